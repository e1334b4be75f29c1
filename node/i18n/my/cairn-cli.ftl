# The `cairn` command line, Burmese (Unicode, not Zawgyi).
# Machine-drafted (2026-12): every string needs review by a native speaker.

empty-passphrase = သတိပေးချက်: စကားဝှက် ဗလာ ဖြစ်နေသည်: ဤစက်၏ ဖိုင်များကို ရရှိသူ မည်သူမဆို သင့်မက်ဆေ့ချ်များကို ဖတ်နိုင်သည်
created-profile = ပရိုဖိုင် “{ $name }” ကို { $dir } တွင် ဖန်တီးပြီး
added = { $name } ({ $id }) ကို ထည့်ပြီး
compare-safety = လုံခြုံရေးနံပါတ်များကို လူချင်းတွေ့၍ နှိုင်းယှဉ်ပါ: cairn verify { $name }
saved = { $path } တွင် သိမ်းပြီး
no-contacts = အဆက်အသွယ် မရှိသေးပါ။ `cairn invite` ကို မျှဝေပြီး သူတို့၏ ဖိတ်ကြားချက်ကို `cairn add` ဖြင့် ထည့်ပါ။
no-node = { $dir } တွင် လည်ပတ်နေသော node မရှိပါ။
key-changed = !! { $name } ၏ ကီးသည် သင်နောက်ဆုံးစစ်ပြီးကတည်းက ပြောင်းသွားပြီ။ မယုံကြည်မီ ထပ်မံ နှိုင်းယှဉ်ပါ။
safety-number = { $name } နှင့် လုံခြုံရေးနံပါတ်:
is-verified = { $name } ကို အတည်ပြုပြီး။
compare-digits = ဤဂဏန်းများကို { $name } ၏ ဖန်သားပြင်ပေါ်ရှိ ဂဏန်းများနှင့် လူချင်းတွေ့၍ သို့မဟုတ် ဖုန်းခေါ်၍ နှိုင်းယှဉ်ပါ။
if-they-match = တူညီပါက: cairn verify { $name } --confirm
group-line = အဖွဲ့ဝင် { $count } ဦး၊ မက်ဆေ့ချ် { $messages } ခု၊ သင်: { $role }
group-bridged = { $address } အဖြစ် XMPP နှင့် ချိတ်ထားသည်: XMPP လောက်သာ သီးသန့်ဖြစ်သည်
group-created = “{ $name }” ကို ဖန်တီးပြီး။ အဆက်အသွယ်များ ထည့်ရန်: cairn group add { $name } CONTACT
no-messages = မက်ဆေ့ချ် မရှိသေးပါ။
author-you = သင်
author-xmpp = { $name } (XMPP၊ { $gateway } မှတစ်ဆင့်)
group-left = “{ $name }” မှ ထွက်ပြီး; ၎င်း၏ မှတ်တမ်းကို ဤနေရာတွင် ဖတ်နိုင်သေးသည်။
no-groups = အဖွဲ့ မရှိသေးပါ။ `cairn group create NAME` ဖြင့် ဖန်တီးပါ။
wrote-file = “{ $name }” ({ $bytes } ဘိုက်) ကို { $path } သို့ ရေးပြီး
watching = { $dir } ပေါ်ရှိ node ကို စောင့်ကြည့်နေသည်။ Ctrl-C ဖြင့် ရပ်ပါ။
node-stopped = node ရပ်သွားပြီ။
profile-busy = ပရိုဖိုင် အလုပ်များနေသည် (cairn command တစ်ခုလား?); စောင့်နေသည်…
node-running = Cairn node { $id } လည်ပတ်နေသည်။ Ctrl-C ဖြင့် ရပ်ပါ။
runs-on-what-works = Cairn သည် အလုပ်လုပ်သည့်အရာဖြင့် လည်ပတ်သည်; ကျန်သည်များ ပိတ်ထားသည်။
file-sent = { $name } ပို့ပြီး: { $contact } ထံ အပြည့်အစုံ ရောက်ပြီ ({ $size })။
file-queued = { $contact } ကို ယခု ဆက်သွယ်၍ မရပါ: ဖိုင်ကို တန်းစီထားပြီး ချိတ်ဆက်မိသောအခါ ကိုယ်တိုင် ဆက်ပို့မည် (`cairn messages { $contact }` တွင် တိုးတက်မှုကို ပြသည်)။
bridge-asked = { $gateway } ကို ချိတ်ဆက်ပေးရန် တောင်းဆိုပြီး။ ပြန်ဖြေပြီးနောက် `cairn status` တွင် သင်၏ XMPP လိပ်စာကို ပြမည်။
bridge-remember = သတိရပါ: gateway ကို ဖြတ်သွားသည်များသည် XMPP လောက်သာ သီးသန့်ဖြစ်သည်။
bridge-left = gateway မှ ထွက်ပြီး; XMPP အသုံးပြုသူများ ၎င်းမှတစ်ဆင့် သင့်ထံ ရေး၍ မရတော့ပါ။
bridge-added = { $name } ({ $id }) ကို XMPP တွင် ထည့်ပြီး
bridge-write = ရေးရန်: cairn send { $id } "…"

## Contacts (`cairn contacts`)
flag-verified = အတည်ပြုပြီး
flag-key-changed = ကီး ပြောင်းသွားပြီ
flag-wrote-first = သူက အရင်ရေးခဲ့သည်
flag-online = အွန်လိုင်း
flag-disappearing = { $after } အကြာတွင် ပျောက်မည်
flag-not-forward-secret = မတွေ့ဆုံမီ အော့ဖ်လိုင်း မက်ဆေ့ချ်များတွင် forward secrecy မရှိ
flag-forward-secret-once-met = တွေ့ဆုံပြီးနောက် အော့ဖ်လိုင်း မက်ဆေ့ချ်များတွင် forward secrecy အပြည့်ရှိ
xmpp-contact = { $via } မှတစ်ဆင့် XMPP (XMPP လောက်သာ သီးသန့်)၊ { $presence }
presence-unknown = အခြေအနေ မသိ

## Files in a conversation
file-complete = ပြီးပြည့်စုံ
file-corrupt = ခိုင်မာမှု စစ်ဆေးချက် မအောင်မြင်
file-arriving = အဖွဲ့ဝင်များထံမှ လာနေဆဲ
msg-edited = (ပြင်ဆင်ထားသည်)
msg-deleted = မက်ဆေ့ချ် ဖျက်ပြီး
msg-reply-to = 「{ $quote }」 ကို ပြန်ကြားချက်
msg-timer-set = မက်ဆေ့ချ်များ ရောက်ပြီး { $after } အကြာတွင် ပျောက်သွားမည်
msg-timer-off = ပျောက်သွားသော မက်ဆေ့ချ်များ ပိတ်ထားသည်

## Devices (`cairn device`, `cairn init --link`)
device-link-code = စက်အသစ်ပေါ်တွင် မိနစ် { $minutes } အတွင်း: cairn init --link CODE (ကုဒ်ကို တစ်ကြိမ်သာ သုံးနိုင်သည်; ချိတ်ဆက်ပြီးသည်အထိ ဤ node ကို ဖွင့်ထားပါ)။
device-joining = ကုဒ်ပြသခဲ့သော စက်ကို ရောက်သည်နှင့် ဤစက်သည် သင့်အကောင့်သို့ ဝင်ရောက်မည်: နှစ်ခုလုံး ရောက်နိုင်သောနေရာတွင် (ကွန်ရက်တူ၊ Bluetooth သို့မဟုတ် Tor) `cairn run` ကို ဖွင့်ပါ။ ပြီးဆုံးချိန်ကို `cairn device list` က ပြသည်။
device-not-linked-yet = မချိတ်ဆက်ရသေးပါ: ကုဒ်ပြသခဲ့သော စက်ကို ရောက်ရန် စောင့်နေသည်။
device-this = ဤစက်
device-mailbox = စာတိုက်ပုံး
device-revoked = { $name } ကို ရုပ်သိမ်းပြီးပါပြီ။ သင့်အဆက်အသွယ်များ သိရှိသည်နှင့် ၎င်းထံ ပို့ခြင်းကို ရပ်မည်။
member-devices = နောက်ထပ် စက် { $count } ခု

# Voice notes
voice-saved = အသံမက်ဆေ့ချ် ({ $length }) ကို { $path } တွင် သိမ်းပြီးပါပြီ
not-a-voice-note = ဤမက်ဆေ့ချ်သည် အသံမက်ဆေ့ချ် မဟုတ်ပါ။
cannot-play = ဤနေရာတွင် ဖွင့်၍မရပါ: { $reason }။ --out FILE.wav ဖြင့် သိမ်းပါ။
cannot-read = { $path } ကို ဖတ်၍မရပါ: { $reason }
cannot-write = { $path } သို့ ရေး၍မရပါ: { $reason }
voice-note = အသံမက်ဆေ့ချ်
