# Cairn's desktop app, Arabic.
# Machine-drafted (2026-12): every string needs review by a native speaker.
# Ids and placeables ({ $name }) must stay as they are in en-US/cairn.ftl.

## General
copy = نسخ
dismiss = إغلاق
not-answering = العقدة العاملة لا تستجيب: { $error }
could-not-start = تعذّر البدء: { $error }
passphrases-differ = عبارتا المرور مختلفتان.
saved-file = حُفظ في { $path }
someone-new = شخص جديد
new-message-from = رسالة جديدة من { $name }
language = اللغة:
language-system = لغة النظام

## Onboarding and unlocking
welcome = مرحبًا بك في Cairn
welcome-tagline = تحدّث مع من حولك أو عبر تور — بلا رقم هاتف، بلا حساب، بلا خادم.
your-name = اسمك
your-name-hint = ما يراه جهات اتصالك
passphrase = عبارة المرور
repeat-passphrase = أعد عبارة المرور
no-passphrase-warning = من دون عبارة مرور، يستطيع أي شخص يصل إلى ملفات هذا الحاسوب قراءة رسائلك.
create-profile = أنشئ ملفي الشخصي
unlock-title = فتح Cairn
unlock = فتح

## The top bar
title = Cairn — { $name }
tab-chats = المحادثات
tab-groups = المجموعات
tab-add-contact = إضافة جهة اتصال
tab-verify = التحقق
tab-network = الشبكة
theme = المظهر:
theme-dark = داكن
theme-light = فاتح
theme-system = النظام
notifications = الإشعارات

## Chats
chats = المحادثات
no-contacts = لا جهات اتصال بعد. استخدم «إضافة جهة اتصال».
mark-key-changed = (تغيّر المفتاح!)
mark-xmpp = (XMPP)
mark-online = (متصل)
unread-many = { $count }+ غير مقروءة
unread = { $count } غير مقروءة
you-wrote = أنت: { $text }
choose-chat = اختر محادثة من القائمة.
key-changed-warning = تغيّر مفتاح جهة الاتصال هذه. قد ينتحل أحدٌ شخصيتها: قارن أرقام الأمان مجددًا.
bridged-chat = موصولة بـ XMPP عبر { $gateway }: خصوصيتها بقدر خصوصية XMPP فقط. تستطيع البوابة وخوادم XMPP قراءة هذه المحادثة.
a-gateway = بوابة
message = رسالة
send = إرسال
file-to-send = ملف للإرسال
send-file = إرسال ملف
written-at = كُتبت { $time }
received-at = وصلت { $time }
picture = صورة { $name }
file-sent = أُرسل
file-received = استُلم
save-file = حفظ { $name }
file-failed = لم يطابق مجموعه الاختباري؛ اطلبه مرة أخرى
file-sending = جارٍ الإرسال { $percent }٪
file-receiving = جارٍ الاستلام { $percent }٪
file-arriving = في الطريق من الأعضاء

## Delivery states of a message (as the node names them)
state-queued = في الانتظار
state-sent = أُرسلت
state-delivered = وصلت
state-held = محفوظة في صندوق بريدهم
state-read = قُرئت
state-failed = فشلت
state-carried = في الطريق
state-received = استُلمت

## Groups
groups = المجموعات
new-group-name = اسم المجموعة الجديدة
create-group = إنشاء مجموعة
group-entry = { $name } ({ $count ->
    [zero] لا أعضاء
    [one] عضو واحد
    [two] عضوان
    [few] { $count } أعضاء
   *[other] { $count } عضوًا
})
mark-bridged = (موصولة بـ XMPP)
choose-group = اختر مجموعة من القائمة أو أنشئ واحدة.
members = الأعضاء
member-entry = { $name } ({ $role })
role-admin = مشرف
role-member = عضو
remove-member = إزالة { $name }
make-member = اجعل { $name } عضوًا
make-admin = اجعل { $name } مشرفًا
add-a-contact = أضف جهة اتصال:
add-member = إضافة { $name }
leave-group = مغادرة المجموعة
group-left = غادرت هذه المجموعة. ما كُتب قبل ذلك يبقى هنا.
group-removed = أُزلت من هذه المجموعة. لن يصلك ما يُكتب بعد إزالتك، ولا يمكنك الكتابة فيها.
group-message = رسالة المجموعة
send-to-group = إرسال إلى المجموعة
bridged-group = موصولة بـ XMPP باسم { $address }: خصوصيتها بقدر خصوصية XMPP فقط. تستطيع البوابة وخوادم XMPP قراءة هذه المجموعة.
author-xmpp = { $name } (XMPP)
author-you = أنت

## Network
network = الشبكة
starting = جارٍ البدء...
medium-lan = الشبكة المحلية (LAN)
medium-ble = بلوتوث
medium-tor = تور
medium-memory = داخل العملية
links = { $count ->
    [zero] لا روابط
    [one] رابط واحد
    [two] رابطان
    [few] { $count } روابط
   *[other] { $count } رابطًا
}
lan-on = LAN: { $connected } نظراء متصلون، { $discovered } مكتشَفون
lan-on-mdns = LAN: { $connected } نظراء متصلون، { $discovered } مكتشَفون (mDNS يعمل)
lan-off = LAN: متوقفة
ble-ready = بلوتوث: يعمل — يعلن عن نفسه ويبحث عن أشخاص قريبين
ble-ready-adapter = بلوتوث: يعمل ({ $adapter }) — يعلن عن نفسه ويبحث عن أشخاص قريبين
ble-starting = بلوتوث: جارٍ البدء
ble-unavailable = بلوتوث: { $state } (يخبرك `cairn doctor` بالمزيد)
ble-off = بلوتوث: متوقف
tor-connecting = جارٍ الاتصال
tor-publishing = جارٍ نشر خدمتك البصلية
tor-ready = قابل للوصول
tor-failed = فشل
tor-status = تور: { $stage } — { $detail }
onion-address = عنوانك البصلي:
tor-off = تور: متوقف
carrying = الحمل للآخرين
carried = حُملت { $count } رسالة؛ بقي { $room } من { $capacity } كيلوبايت
handed-on = سُلّمت: { $handed }   رُفضت: { $refused }

## Adding a contact
add-contact-title = إضافة جهة اتصال
add-contact-help = أرِهم رمزك، أو أرسل إليهم رابطك؛ وأضف رابطهم أدناه.
your-invite = دعوتك
their-invite = دعوتهم
add = إضافة
qr-help = أو افتح صورة لرمز QR الخاص بهم (يمكنك أيضًا إفلاتها على هذه النافذة).
invite-image-file = ملف صورة الدعوة
open-image = فتح الصورة

## Verifying
choose-chat-first = اختر محادثة أولًا.
verify-title = التحقق من { $name }
verify-help = قارن هذه الأرقام بالأرقام على شاشتهم، وجهًا لوجه أو في مكالمة. إن تطابقت فلا أحد في المنتصف.
verified = تم التحقق
mark-verified = متطابقة: علّمها كمتحقَّق منها

## Backup and restore
menu-profile = الملف الشخصي
menu-backup = نسخ احتياطي…
backup-title = نسخ احتياطي لهذا الملف الشخصي
backup-explain = ملف واحد مشفّر يضم هويتك وجهات اتصالك ومجموعاتك وسجلّك. احفظه بعيدًا عن عبارة مروره: معًا هما أنت.
backup-file = ملف النسخة الاحتياطية
backup-passphrase = عبارة مرور النسخة الاحتياطية
backup-with-files = مع الملفات
backup-write = اكتب النسخة الاحتياطية
backup-done = كُتبت في { $path } — جهات الاتصال: { $contacts }، الرسائل: { $messages }، المجموعات: { $groups }.
backup-no-passphrase = النسخة الاحتياطية تحتاج إلى عبارة مرور: فيها مفتاح هويتك.
restore-title = أو استعد ملفًا شخصيًا من نسخة احتياطية
restore-explain = اختر عبارة مرور لهذا الجهاز أعلاه، ثم:
restore = استعادة

## Devices (Profile → Devices…, and linking on the first screen)
menu-devices = الأجهزة…
devices-title = أجهزتك
devices-explain = كل رسالة إليك أو منك تصل إلى كل هذه الأجهزة. يحصل الجهاز الجديد على جهات اتصالك وسجل آخر 30 يومًا.
loading = جارٍ التحميل…
device-not-linked-yet = لم يُربط بعد: في انتظار الوصول إلى الجهاز الذي عرض الرمز.
device-this = { $name } (هذا الجهاز)
device-mailbox = صندوق بريد
device-revoke = إلغاء
devices-revoked = الأجهزة الملغاة: { $count }
device-revoked = أُلغي { $name }. يتوقف جهات اتصالك عن الإرسال إليه حين يعلمون بذلك.
devices-not-holder = جهازك الأول وحده يستطيع ربط الأجهزة أو إلغاءها.
device-link = ربط جهاز جديد
device-link-help = على الجهاز الجديد اختر «ربط هذا الجهاز» وأدخل هذا الرمز (أو امسحه) خلال عشر دقائق. يعمل مرة واحدة؛ أبقِ هذه النافذة مفتوحة حتى يتم الربط.
device-link-code = رمز الربط
link-title = أو اربط هذا الجهاز بملفك الشخصي على جهاز آخر
link-explain = على الجهاز الآخر: الملف الشخصي ← الأجهزة… ← ربط جهاز جديد. ثم يحصل هذا الجهاز على جهات اتصالك وسجلك الأخير.
device-name = اسم هذا الجهاز
device-default-name = جهاز جديد
link-this-device = ربط هذا الجهاز
link-bad-code = هذا ليس رمز ربط: { $error }

## Replies, reactions, edits, deletions, disappearing messages
reply = رد
react-with = تفاعل بـ { $emoji }
edit = تعديل
delete-for-everyone = حذف لدى الجميع
message-actions = إجراءات الرسالة
replying-to = ردًا على: { $quote }
editing = تعديل رسالتك
cancel = إلغاء
edited = (مُعدَّلة)
message-deleted = حُذفت هذه الرسالة
quote-gone = رسالة لم تعد هنا
timer-set = تختفي الرسائل بعد { $after } من وصولها
timer-off = الرسائل المختفية متوقفة
timer-none = إيقاف
disappearing = الرسائل المختفية

# Voice notes
hold-to-record = اضغط مطوّلًا لتسجيل رسالة صوتية
release-to-send = ارفع إصبعك للإرسال
recording = جارٍ التسجيل { $time }
voice-too-short = أبقِ الزر مضغوطًا وأنت تتكلم (كان التسجيل أقصر من أن يُرسل).
voice-failed = رسالة صوتية: { $reason }
voice-note = رسالة صوتية { $length }
voice-unreadable = لا يمكن تشغيل هذه الرسالة الصوتية.
play-voice = تشغيل
stop-voice = إيقاف
voice-position = { $at } / { $length }
