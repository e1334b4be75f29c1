# The `cairn` command line, English (the source language). Only sentences
# for people are here; ids, JSON, logs and `doctor`'s checks stay as they are.
# How to add a language: docs/GUI.md, "Languages".

empty-passphrase = warning: empty passphrase: anyone with this device's files can read your messages
created-profile = Created profile "{ $name }" in { $dir }
added = Added { $name } ({ $id })
compare-safety = Compare safety numbers in person: cairn verify { $name }
saved = saved { $path }
no-contacts = No contacts yet. Share `cairn invite` and add theirs with `cairn add`.
no-node = No node is running on { $dir }.
key-changed = !! { $name }'s key CHANGED since you last checked. Compare again before trusting it.
safety-number = Safety number with { $name }:
is-verified = { $name } is verified.
compare-digits = Compare these digits with the ones on { $name }'s screen, in person or on a call.
if-they-match = If they match: cairn verify { $name } --confirm
group-line = { $count ->
    [one] 1 member
   *[other] { $count } members
}, { $messages ->
    [one] 1 message
   *[other] { $messages } messages
}, you: { $role }
group-bridged = bridged to XMPP as { $address }: only as private as XMPP
group-created = Created "{ $name }". Add contacts with: cairn group add { $name } CONTACT
no-messages = No messages yet.
author-you = you
author-xmpp = { $name } (XMPP, via { $gateway })
group-left = Left "{ $name }"; its history stays readable here.
no-groups = No groups yet. Start one with `cairn group create NAME`.
wrote-file = Wrote "{ $name }" ({ $bytes } bytes) to { $path }
watching = Watching the node on { $dir }. Ctrl-C stops.
node-stopped = The node stopped.
profile-busy = The profile is busy (a cairn command?); waiting for it…
node-running = Cairn node { $id } is running. Ctrl-C stops it.
runs-on-what-works = Cairn runs on what works; the rest stays off.
file-sent = { $name } sent: { $contact } has all of it ({ $size }).
file-queued = { $contact } is not in reach now: the file is queued and goes on by itself when you are linked (`cairn messages { $contact }` shows how far it got).
bridge-asked = Asked { $gateway } to bridge you. `cairn status` shows your XMPP address once it answers.
bridge-remember = Remember: what crosses the gateway is only as private as XMPP.
bridge-left = Left the gateway; XMPP users can no longer write to you through it.
bridge-added = Added { $name } ({ $id }) on XMPP
bridge-write = Write with: cairn send { $id } "…"

## Contacts (`cairn contacts`)
flag-verified = verified
flag-key-changed = KEY CHANGED
flag-wrote-first = wrote first
flag-online = online
flag-disappearing = disappear after { $after }
flag-not-forward-secret = offline messages not forward-secret until you meet
flag-forward-secret-once-met = offline messages fully forward-secret once you meet
xmpp-contact = XMPP via { $via } (only as private as XMPP), { $presence }
presence-unknown = presence unknown

## Files in a conversation
file-complete = complete
file-corrupt = failed its integrity check
file-arriving = on its way from members
msg-edited = (edited)
msg-deleted = message deleted
msg-reply-to = reply to “{ $quote }”
msg-timer-set = messages disappear { $after } after they arrive
msg-timer-off = disappearing messages off

## Devices (`cairn device`, `cairn init --link`)
device-link-code = On the new device, within { $minutes } minutes: cairn init --link CODE (the code works once; keep this node running until it is linked).
device-joining = This device joins your account as soon as it reaches the device that showed the code: run `cairn run` where both are in reach (same network, Bluetooth or Tor). `cairn device list` shows when it is done.
device-not-linked-yet = Not linked yet: waiting to reach the device that showed the code.
device-this = this device
device-mailbox = mailbox
device-revoked = Revoked { $name }. Your contacts stop sending to it as they hear of it.
member-devices = { $count ->
    [one] and 1 more device
   *[other] and { $count } more devices
}

# Voice notes
voice-saved = Voice note ({ $length }) saved to { $path }
not-a-voice-note = That message is not a voice note.
cannot-play = Cannot play it here: { $reason }. Save it with --out FILE.wav instead.
cannot-read = Cannot read { $path }: { $reason }
cannot-write = Cannot write { $path }: { $reason }
voice-note = voice note
