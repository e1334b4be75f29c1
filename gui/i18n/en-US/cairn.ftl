# Cairn's desktop app, English (the source language; every other file
# translates these ids). How to add a language: docs/GUI.md, "Languages".

## General
copy = Copy
dismiss = Dismiss
not-answering = the running node does not answer: { $error }
could-not-start = could not start: { $error }
passphrases-differ = The two passphrases differ.
saved-file = Saved { $path }
someone-new = someone new
new-message-from = New message from { $name }
language = Language:
language-system = System

## Onboarding and unlocking
welcome = Welcome to Cairn
welcome-tagline = Chat with people nearby or over Tor — no phone number, no account, no server.
your-name = Your name
your-name-hint = what your contacts see
passphrase = Passphrase
repeat-passphrase = Repeat passphrase
no-passphrase-warning = Without a passphrase, anyone with this computer's files can read your messages.
create-profile = Create my profile
unlock-title = Unlock Cairn
unlock = Unlock

## The top bar
title = Cairn — { $name }
tab-chats = Chats
tab-groups = Groups
tab-add-contact = Add contact
tab-verify = Verify
tab-network = Network
theme = Theme:
theme-dark = Dark
theme-light = Light
theme-system = System
notifications = Notifications

## Chats
chats = Chats
no-contacts = No contacts yet. Use “Add contact”.
mark-key-changed = (key changed!)
mark-xmpp = (XMPP)
mark-online = (online)
unread-many = { $count }+ unread
unread = { $count } unread
you-wrote = You: { $text }
choose-chat = Choose a chat from the list.
key-changed-warning = This contact's key changed. Someone may be impersonating them: compare safety numbers again.
bridged-chat = Bridged to XMPP through { $gateway }: only as private as XMPP. The gateway and the XMPP servers can read this chat.
a-gateway = a gateway
message = Message
send = Send
file-to-send = File to send
send-file = Send file
written-at = Written { $time }
received-at = Received { $time }
picture = Picture { $name }
file-sent = sent
file-received = received
save-file = Save { $name }
file-failed = did not match its checksum; ask for it again
file-sending = sending { $percent }%
file-receiving = receiving { $percent }%
file-arriving = on its way from members

## Delivery states of a message (as the node names them)
state-queued = queued
state-sent = sent
state-delivered = delivered
state-held = held by their mailbox
state-read = read
state-failed = failed
state-carried = carried
state-received = received

## Groups
groups = Groups
new-group-name = New group name
create-group = Create group
group-entry = { $name } ({ $count ->
    [one] 1 member
   *[other] { $count } members
})
mark-bridged = (bridged to XMPP)
choose-group = Choose or create a group from the list.
members = Members
member-entry = { $name } ({ $role })
role-admin = admin
role-member = member
remove-member = Remove { $name }
make-member = Make { $name } a member
make-admin = Make { $name } admin
add-a-contact = Add a contact:
add-member = Add { $name }
leave-group = Leave group
group-left = You left this group. What was written before stays here.
group-removed = You were removed from this group. You get nothing written after your removal, and cannot write to it.
group-message = Group message
send-to-group = Send to group
bridged-group = Bridged to XMPP as { $address }: only as private as XMPP. The gateway and the XMPP servers can read this group.
author-xmpp = { $name } (XMPP)
author-you = you

## Network
network = Network
starting = Starting...
medium-lan = Local network (LAN)
medium-ble = Bluetooth
medium-tor = Tor
medium-memory = In-process
links = { $count ->
    [one] 1 link
   *[other] { $count } links
}
lan-on = LAN: { $connected } peers connected, { $discovered } discovered
lan-on-mdns = LAN: { $connected } peers connected, { $discovered } discovered (mDNS on)
lan-off = LAN: off
ble-ready = Bluetooth: on — advertising and looking for people nearby
ble-ready-adapter = Bluetooth: on ({ $adapter }) — advertising and looking for people nearby
ble-starting = Bluetooth: starting
ble-unavailable = Bluetooth: { $state } (`cairn doctor` says more)
ble-off = Bluetooth: off
tor-connecting = connecting
tor-publishing = publishing your onion service
tor-ready = reachable
tor-failed = failed
tor-status = Tor: { $stage } — { $detail }
onion-address = Your onion address:
tor-off = Tor: off
carrying = Carrying for others
carried = { $count } messages carried; { $room } KiB of { $capacity } KiB room left
handed-on = Handed on: { $handed }   Refused: { $refused }

## Adding a contact
add-contact-title = Add a contact
add-contact-help = Show them your code, or send them your link; add theirs below.
your-invite = Your invite
their-invite = Their invite
add = Add
qr-help = Or open a picture of their QR code (you can also drop it on this window).
invite-image-file = Invite image file
open-image = Open image

## Verifying
choose-chat-first = Choose a chat first.
verify-title = Verify { $name }
verify-help = Compare these numbers with the ones on their screen, in person or on a call. If they match, nobody is in the middle.
verified = Verified
mark-verified = They match: mark as verified

## Backup and restore
menu-profile = Profile
menu-backup = Back up…
backup-title = Back up this profile
backup-explain = One encrypted file with your identity, contacts, groups and history. Keep it apart from its passphrase: together they are you.
backup-file = Backup file
backup-passphrase = Backup passphrase
backup-with-files = Include files
backup-write = Write the backup
backup-done = Written to { $path } — contacts: { $contacts }, messages: { $messages }, groups: { $groups }.
backup-no-passphrase = A backup needs a passphrase: it holds your identity's key.
restore-title = Or bring back a profile from a backup
restore-explain = Choose a passphrase for this device above, then:
restore = Restore

## Devices (Profile → Devices…, and linking on the first screen)
menu-devices = Devices…
devices-title = Your devices
devices-explain = Every message to or from you reaches all of these. A new device gets your contacts and the last 30 days of history.
loading = Loading…
device-not-linked-yet = Not linked yet: waiting to reach the device that showed the code.
device-this = { $name } (this device)
device-mailbox = mailbox
device-revoke = Revoke
devices-revoked = Revoked devices: { $count }
device-revoked = Revoked { $name }. Your contacts stop sending to it as they hear of it.
devices-not-holder = Only your first device can link or revoke devices.
device-link = Link a new device
device-link-help = On the new device, choose "Link this device" and enter this code (or scan it) within ten minutes. It works once; keep this window open until it is linked.
device-link-code = Link code
link-title = Or link this device to your profile on another device
link-explain = On the other device: Profile → Devices… → Link a new device. This device then gets your contacts and recent history.
device-name = This device’s name
device-default-name = new device
link-this-device = Link this device
link-bad-code = That is not a link code: { $error }

## Replies, reactions, edits, deletions, disappearing messages
reply = Reply
react-with = React with { $emoji }
edit = Edit
delete-for-everyone = Delete for everyone
message-actions = Message actions
replying-to = Replying to: { $quote }
editing = Editing your message
cancel = Cancel
edited = (edited)
message-deleted = This message was deleted
quote-gone = a message no longer here
timer-set = Messages disappear { $after } after they arrive
timer-off = Disappearing messages are off
timer-none = Off
disappearing = Disappearing messages

# Voice notes
hold-to-record = Hold to record a voice note
release-to-send = Release to send
recording = Recording { $time }
voice-too-short = Hold the button while you speak (that was too short to send).
voice-failed = Voice note: { $reason }
voice-note = Voice note { $length }
voice-unreadable = This voice note cannot be played.
play-voice = Play
stop-voice = Stop
voice-position = { $at } / { $length }
