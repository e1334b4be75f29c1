# Cairn's desktop app, Burmese (Unicode, not Zawgyi).
# Machine-drafted (2026-12): every string needs review by a native speaker.
# Ids and placeables ({ $name }) must stay as they are in en-US/cairn.ftl.

## General
copy = ကူးယူရန်
dismiss = ပိတ်ရန်
not-answering = လည်ပတ်နေသော node က မတုံ့ပြန်ပါ: { $error }
could-not-start = စတင်၍ မရပါ: { $error }
passphrases-differ = စကားဝှက်နှစ်ခု မတူပါ။
saved-file = { $path } တွင် သိမ်းပြီး
someone-new = လူသစ်တစ်ဦး
new-message-from = { $name } ထံမှ မက်ဆေ့ချ်အသစ်
language = ဘာသာစကား:
language-system = စနစ်၏ ဘာသာစကား

## Onboarding and unlocking
welcome = Cairn မှ ကြိုဆိုပါသည်
welcome-tagline = အနီးရှိလူများနှင့် သို့မဟုတ် Tor မှတစ်ဆင့် စကားပြောပါ — ဖုန်းနံပါတ် မလို၊ အကောင့် မလို၊ ဆာဗာ မလို။
your-name = သင့်အမည်
your-name-hint = သင့်အဆက်အသွယ်များ မြင်ရမည့်အမည်
passphrase = စကားဝှက်
repeat-passphrase = စကားဝှက် ထပ်ရိုက်ပါ
no-passphrase-warning = စကားဝှက်မရှိလျှင် ဤကွန်ပျူတာ၏ ဖိုင်များကို ရရှိသူ မည်သူမဆို သင့်မက်ဆေ့ချ်များကို ဖတ်နိုင်သည်။
create-profile = ကျွန်ုပ်၏ ပရိုဖိုင် ဖန်တီးရန်
unlock-title = Cairn ကို ဖွင့်ရန်
unlock = ဖွင့်ရန်

## The top bar
title = Cairn — { $name }
tab-chats = စကားဝိုင်းများ
tab-groups = အဖွဲ့များ
tab-add-contact = အဆက်အသွယ် ထည့်ရန်
tab-verify = အတည်ပြုရန်
tab-network = ကွန်ရက်
theme = အပြင်အဆင်:
theme-dark = အမှောင်
theme-light = အလင်း
theme-system = စနစ်
notifications = အသိပေးချက်များ

## Chats
chats = စကားဝိုင်းများ
no-contacts = အဆက်အသွယ် မရှိသေးပါ။ “အဆက်အသွယ် ထည့်ရန်” ကို သုံးပါ။
mark-key-changed = (ကီး ပြောင်းသွားပြီ!)
mark-xmpp = (XMPP)
mark-online = (အွန်လိုင်း)
unread-many = မဖတ်ရသေး { $count }+
unread = မဖတ်ရသေး { $count }
you-wrote = သင်: { $text }
choose-chat = စာရင်းမှ စကားဝိုင်းတစ်ခု ရွေးပါ။
key-changed-warning = ဤအဆက်အသွယ်၏ ကီး ပြောင်းသွားပြီ။ တစ်စုံတစ်ယောက်က ဟန်ဆောင်နေနိုင်သည်: လုံခြုံရေးနံပါတ်များကို ထပ်မံ နှိုင်းယှဉ်ပါ။
bridged-chat = { $gateway } မှတစ်ဆင့် XMPP နှင့် ချိတ်ဆက်ထားသည်: XMPP လောက်သာ သီးသန့်ဖြစ်သည်။ gateway နှင့် XMPP ဆာဗာများက ဤစကားဝိုင်းကို ဖတ်နိုင်သည်။
a-gateway = gateway တစ်ခု
message = မက်ဆေ့ချ်
send = ပို့ရန်
file-to-send = ပို့မည့်ဖိုင်
send-file = ဖိုင်ပို့ရန်
written-at = { $time } တွင် ရေးသည်
received-at = { $time } တွင် ရရှိသည်
picture = ပုံ { $name }
file-sent = ပို့ပြီး
file-received = ရရှိပြီး
save-file = { $name } ကို သိမ်းရန်
file-failed = checksum မကိုက်ညီပါ; ထပ်မံ တောင်းပါ
file-sending = ပို့နေသည် { $percent }%
file-receiving = ရယူနေသည် { $percent }%
file-arriving = အဖွဲ့ဝင်များထံမှ လာနေဆဲ

## Delivery states of a message (as the node names them)
state-queued = တန်းစီထားသည်
state-sent = ပို့ပြီး
state-delivered = ရောက်ပြီး
state-held = ၎င်းတို့၏ စာတိုက်ပုံးတွင် ရှိသည်
state-read = ဖတ်ပြီး
state-failed = မအောင်မြင်
state-carried = သယ်ဆောင်နေသည်
state-received = ရရှိပြီး

## Groups
groups = အဖွဲ့များ
new-group-name = အဖွဲ့သစ်အမည်
create-group = အဖွဲ့ ဖန်တီးရန်
group-entry = { $name } (အဖွဲ့ဝင် { $count } ဦး)
mark-bridged = (XMPP နှင့် ချိတ်ထားသည်)
choose-group = စာရင်းမှ အဖွဲ့တစ်ခု ရွေးပါ သို့မဟုတ် ဖန်တီးပါ။
members = အဖွဲ့ဝင်များ
member-entry = { $name } ({ $role })
role-admin = စီမံသူ
role-member = အဖွဲ့ဝင်
remove-member = { $name } ကို ဖယ်ရှားရန်
make-member = { $name } ကို အဖွဲ့ဝင် ပြုလုပ်ရန်
make-admin = { $name } ကို စီမံသူ ပြုလုပ်ရန်
add-a-contact = အဆက်အသွယ် ထည့်ရန်:
add-member = { $name } ကို ထည့်ရန်
leave-group = အဖွဲ့မှ ထွက်ရန်
group-left = သင် ဤအဖွဲ့မှ ထွက်ခဲ့သည်။ ယခင်ရေးထားသည်များ ဤနေရာတွင် ကျန်ရှိမည်။
group-removed = သင့်ကို ဤအဖွဲ့မှ ဖယ်ရှားခဲ့သည်။ ဖယ်ရှားပြီးနောက် ရေးသည်များ သင့်ထံ မရောက်ပါ၊ ထိုအဖွဲ့တွင် ရေး၍ မရပါ။
group-message = အဖွဲ့ မက်ဆေ့ချ်
send-to-group = အဖွဲ့သို့ ပို့ရန်
bridged-group = { $address } အဖြစ် XMPP နှင့် ချိတ်ဆက်ထားသည်: XMPP လောက်သာ သီးသန့်ဖြစ်သည်။ gateway နှင့် XMPP ဆာဗာများက ဤအဖွဲ့ကို ဖတ်နိုင်သည်။
author-xmpp = { $name } (XMPP)
author-you = သင်

## Network
network = ကွန်ရက်
starting = စတင်နေသည်...
medium-lan = ဒေသတွင်း ကွန်ရက် (LAN)
medium-ble = ဘလူးတုသ်
medium-tor = Tor
medium-memory = process အတွင်း
links = ချိတ်ဆက်မှု { $count } ခု
lan-on = LAN: ချိတ်ဆက်ထားသူ { $connected }၊ တွေ့ရှိသူ { $discovered }
lan-on-mdns = LAN: ချိတ်ဆက်ထားသူ { $connected }၊ တွေ့ရှိသူ { $discovered } (mDNS ဖွင့်ထားသည်)
lan-off = LAN: ပိတ်ထားသည်
ble-ready = ဘလူးတုသ်: ဖွင့်ထားသည် — ကြေညာပြီး အနီးရှိလူများကို ရှာနေသည်
ble-ready-adapter = ဘလူးတုသ်: ဖွင့်ထားသည် ({ $adapter }) — ကြေညာပြီး အနီးရှိလူများကို ရှာနေသည်
ble-starting = ဘလူးတုသ်: စတင်နေသည်
ble-unavailable = ဘလူးတုသ်: { $state } (`cairn doctor` တွင် အသေးစိတ်)
ble-off = ဘလူးတုသ်: ပိတ်ထားသည်
tor-connecting = ချိတ်ဆက်နေသည်
tor-publishing = သင်၏ onion ဝန်ဆောင်မှုကို ထုတ်ပြန်နေသည်
tor-ready = ဆက်သွယ်နိုင်သည်
tor-failed = မအောင်မြင်
tor-status = Tor: { $stage } — { $detail }
onion-address = သင်၏ onion လိပ်စာ:
tor-off = Tor: ပိတ်ထားသည်
carrying = အခြားသူများအတွက် သယ်ဆောင်ခြင်း
carried = မက်ဆေ့ချ် { $count } ခု သယ်ဆောင်ပြီး; { $capacity } KiB အနက် { $room } KiB ကျန်သည်
handed-on = လွှဲပြောင်းပြီး: { $handed }   ငြင်းပယ်: { $refused }

## Adding a contact
add-contact-title = အဆက်အသွယ် ထည့်ရန်
add-contact-help = သင့်ကုဒ်ကို ပြပါ သို့မဟုတ် သင့်လင့်ခ်ကို ပို့ပါ; သူတို့၏လင့်ခ်ကို အောက်တွင် ထည့်ပါ။
your-invite = သင်၏ ဖိတ်ကြားချက်
their-invite = သူတို့၏ ဖိတ်ကြားချက်
add = ထည့်ရန်
qr-help = သို့မဟုတ် သူတို့၏ QR ကုဒ်ပုံကို ဖွင့်ပါ (ဤဝင်းဒိုးပေါ်သို့ ဆွဲချနိုင်သည်)။
invite-image-file = ဖိတ်ကြားချက် ပုံဖိုင်
open-image = ပုံ ဖွင့်ရန်

## Verifying
choose-chat-first = စကားဝိုင်းတစ်ခုကို အရင် ရွေးပါ။
verify-title = { $name } ကို အတည်ပြုရန်
verify-help = ဤနံပါတ်များကို သူတို့ဖန်သားပြင်ပေါ်ရှိ နံပါတ်များနှင့် လူချင်းတွေ့၍ သို့မဟုတ် ဖုန်းခေါ်၍ နှိုင်းယှဉ်ပါ။ တူညီပါက ကြားတွင် မည်သူမျှ မရှိပါ။
verified = အတည်ပြုပြီး
mark-verified = တူညီသည်: အတည်ပြုပြီးဟု မှတ်ရန်

## Backup and restore
menu-profile = ပရိုဖိုင်
menu-backup = အရန်သိမ်းရန်…
backup-title = ဤပရိုဖိုင်ကို အရန်သိမ်းရန်
backup-explain = သင့်အထောက်အထား၊ အဆက်အသွယ်များ၊ အုပ်စုများနှင့် မှတ်တမ်းပါသော စာဝှက်ထားသည့် ဖိုင်တစ်ခု။ ၎င်း၏ စကားဝှက်နှင့် သီးခြားထားပါ — နှစ်ခုပေါင်းလျှင် သင်ဖြစ်သည်။
backup-file = အရန်ဖိုင်
backup-passphrase = အရန်ဖိုင် စကားဝှက်
backup-with-files = ဖိုင်များပါ ထည့်ရန်
backup-write = အရန်ဖိုင် ရေးရန်
backup-done = { $path } တွင် ရေးပြီး — အဆက်အသွယ်: { $contacts }၊ မက်ဆေ့ချ်: { $messages }၊ အုပ်စု: { $groups }။
backup-no-passphrase = အရန်ဖိုင်အတွက် စကားဝှက် လိုသည် — သင့်အထောက်အထား သော့ ပါဝင်သည်။
restore-title = သို့မဟုတ် အရန်ဖိုင်မှ ပရိုဖိုင်ကို ပြန်ယူရန်
restore-explain = အပေါ်တွင် ဤစက်အတွက် စကားဝှက်ရွေးပြီးနောက်:
restore = ပြန်ယူရန်

## Devices (Profile → Devices…, and linking on the first screen)
menu-devices = စက်များ…
devices-title = သင့်စက်များ
devices-explain = သင့်ထံ သို့မဟုတ် သင့်ထံမှ စာတိုင်းသည် ဤစက်အားလုံးသို့ ရောက်သည်။ စက်အသစ်သည် သင့်အဆက်အသွယ်များနှင့် နောက်ဆုံး ရက် ၃၀ မှတ်တမ်းကို ရရှိသည်။
loading = ဖွင့်နေသည်…
device-not-linked-yet = မချိတ်ဆက်ရသေးပါ: ကုဒ်ပြသခဲ့သော စက်ကို ရောက်ရန် စောင့်နေသည်။
device-this = { $name } (ဤစက်)
device-mailbox = စာတိုက်ပုံး
device-revoke = ရုပ်သိမ်းရန်
devices-revoked = ရုပ်သိမ်းထားသော စက်များ: { $count }
device-revoked = { $name } ကို ရုပ်သိမ်းပြီးပါပြီ။ သင့်အဆက်အသွယ်များ သိရှိသည်နှင့် ၎င်းထံ ပို့ခြင်းကို ရပ်မည်။
devices-not-holder = သင့်ပထမဆုံးစက်သာ စက်များကို ချိတ်ဆက်ခြင်း သို့မဟုတ် ရုပ်သိမ်းခြင်း ပြုနိုင်သည်။
device-link = စက်အသစ် ချိတ်ဆက်ရန်
device-link-help = စက်အသစ်ပေါ်တွင် "ဤစက်ကို ချိတ်ဆက်ရန်" ကို ရွေးပြီး ဤကုဒ်ကို မိနစ် ၁၀ အတွင်း ထည့်ပါ (သို့မဟုတ် စကင်ဖတ်ပါ)။ တစ်ကြိမ်သာ အသုံးပြုနိုင်သည်; ချိတ်ဆက်ပြီးသည်အထိ ဤဝင်းဒိုးကို ဖွင့်ထားပါ။
device-link-code = ချိတ်ဆက်ကုဒ်
link-title = သို့မဟုတ် ဤစက်ကို အခြားစက်ပေါ်ရှိ သင့်ပရိုဖိုင်နှင့် ချိတ်ဆက်ပါ
link-explain = အခြားစက်ပေါ်တွင်: ပရိုဖိုင် → စက်များ… → စက်အသစ် ချိတ်ဆက်ရန်။ ထို့နောက် ဤစက်သည် သင့်အဆက်အသွယ်များနှင့် မကြာသေးမီ မှတ်တမ်းကို ရရှိမည်။
device-name = ဤစက်၏ အမည်
device-default-name = စက်အသစ်
link-this-device = ဤစက်ကို ချိတ်ဆက်ရန်
link-bad-code = ဤသည် ချိတ်ဆက်ကုဒ် မဟုတ်ပါ: { $error }

## Replies, reactions, edits, deletions, disappearing messages
reply = ပြန်ကြားရန်
react-with = { $emoji } ဖြင့် တုံ့ပြန်ရန်
edit = ပြင်ရန်
delete-for-everyone = အားလုံးအတွက် ဖျက်ရန်
message-actions = မက်ဆေ့ချ် လုပ်ဆောင်ချက်များ
replying-to = ပြန်ကြားနေသည်: { $quote }
editing = သင့်မက်ဆေ့ချ်ကို ပြင်နေသည်
cancel = မလုပ်တော့ပါ
edited = (ပြင်ဆင်ထားသည်)
message-deleted = ဤမက်ဆေ့ချ်ကို ဖျက်လိုက်ပြီ
quote-gone = ဤနေရာတွင် မရှိတော့သော မက်ဆေ့ချ်
timer-set = မက်ဆေ့ချ်များ ရောက်ပြီး { $after } အကြာတွင် ပျောက်သွားမည်
timer-off = ပျောက်သွားသော မက်ဆေ့ချ်များ ပိတ်ထားသည်
timer-none = ပိတ်
disappearing = ပျောက်သွားသော မက်ဆေ့ချ်များ

# Voice notes
hold-to-record = အသံမက်ဆေ့ချ် သွင်းရန် ဖိထားပါ
release-to-send = ပို့ရန် လွှတ်လိုက်ပါ
recording = အသံသွင်းနေသည် { $time }
voice-too-short = ပြောနေစဉ် ခလုတ်ကို ဖိထားပါ (ပို့ရန် တိုလွန်းသည်)။
voice-failed = အသံမက်ဆေ့ချ်: { $reason }
voice-note = အသံမက်ဆေ့ချ် { $length }
voice-unreadable = ဤအသံမက်ဆေ့ချ်ကို ဖွင့်၍မရပါ။
play-voice = ဖွင့်ရန်
stop-voice = ရပ်ရန်
voice-position = { $at } / { $length }
