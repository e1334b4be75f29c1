# The `cairn` command line, Arabic.
# Machine-drafted (2026-12): every string needs review by a native speaker.

empty-passphrase = تحذير: عبارة المرور فارغة: يستطيع أي شخص يصل إلى ملفات هذا الجهاز قراءة رسائلك
created-profile = أُنشئ الملف الشخصي «{ $name }» في { $dir }
added = أُضيف { $name } ({ $id })
compare-safety = قارن أرقام الأمان وجهًا لوجه: cairn verify { $name }
saved = حُفظ في { $path }
no-contacts = لا جهات اتصال بعد. شارك `cairn invite` وأضف دعوتهم بـ `cairn add`.
no-node = لا عقدة تعمل على { $dir }.
key-changed = !! تغيّر مفتاح { $name } منذ آخر تحقق. قارن مجددًا قبل أن تثق به.
safety-number = رقم الأمان مع { $name }:
is-verified = تم التحقق من { $name }.
compare-digits = قارن هذه الأرقام بالأرقام على شاشة { $name }، وجهًا لوجه أو في مكالمة.
if-they-match = إن تطابقت: cairn verify { $name } --confirm
group-line = { $count ->
    [zero] لا أعضاء
    [one] عضو واحد
    [two] عضوان
    [few] { $count } أعضاء
   *[other] { $count } عضوًا
}، { $messages ->
    [zero] لا رسائل
    [one] رسالة واحدة
    [two] رسالتان
    [few] { $messages } رسائل
   *[other] { $messages } رسالة
}، أنت: { $role }
group-bridged = موصولة بـ XMPP باسم { $address }: خصوصيتها بقدر خصوصية XMPP فقط
group-created = أُنشئت «{ $name }». أضف جهات اتصال بـ: cairn group add { $name } CONTACT
no-messages = لا رسائل بعد.
author-you = أنت
author-xmpp = { $name } (XMPP، عبر { $gateway })
group-left = غادرت «{ $name }»؛ يبقى سجلها مقروءًا هنا.
no-groups = لا مجموعات بعد. أنشئ واحدة بـ `cairn group create NAME`.
wrote-file = كُتب «{ $name }» ({ $bytes } بايت) في { $path }
watching = مراقبة العقدة على { $dir }. اضغط Ctrl-C للإيقاف.
node-stopped = توقفت العقدة.
profile-busy = الملف الشخصي مشغول (أمر cairn آخر؟)؛ في الانتظار…
node-running = عقدة Cairn { $id } تعمل. اضغط Ctrl-C لإيقافها.
runs-on-what-works = يعمل Cairn بما هو متاح؛ والباقي يبقى متوقفًا.
file-sent = أُرسل { $name }: وصل كاملًا إلى { $contact } ({ $size }).
file-queued = { $contact } غير متاح الآن: الملف في الانتظار ويُستأنف وحده حين تتصلان (`cairn messages { $contact }` يبيّن إلى أين وصل).
bridge-asked = طُلب من { $gateway } وصلك. يعرض `cairn status` عنوان XMPP الخاص بك حين يجيب.
bridge-remember = تذكّر: ما يعبر البوابة خصوصيته بقدر خصوصية XMPP فقط.
bridge-left = غادرت البوابة؛ لم يعد بإمكان مستخدمي XMPP مراسلتك عبرها.
bridge-added = أُضيف { $name } ({ $id }) على XMPP
bridge-write = اكتب بـ: cairn send { $id } "…"

## Contacts (`cairn contacts`)
flag-verified = متحقَّق منه
flag-key-changed = تغيّر المفتاح
flag-wrote-first = بدأ بالكتابة
flag-online = متصل
flag-disappearing = تختفي بعد { $after }
flag-not-forward-secret = الرسائل دون اتصال بلا سرية أمامية حتى تلتقيا
flag-forward-secret-once-met = الرسائل دون اتصال بسرية أمامية كاملة بعد اللقاء
xmpp-contact = XMPP عبر { $via } (خصوصيته بقدر XMPP فقط)، { $presence }
presence-unknown = الحالة غير معروفة

## Files in a conversation
file-complete = مكتمل
file-corrupt = فشل فحص سلامته
file-arriving = في الطريق من الأعضاء
msg-edited = (مُعدَّلة)
msg-deleted = حُذفت الرسالة
msg-reply-to = ردًّا على «{ $quote }»
msg-timer-set = تختفي الرسائل بعد { $after } من وصولها
msg-timer-off = الرسائل المختفية متوقفة

## Devices (`cairn device`, `cairn init --link`)
device-link-code = على الجهاز الجديد، خلال { $minutes } دقائق: cairn init --link CODE (يعمل الرمز مرة واحدة؛ أبقِ هذه العقدة تعمل حتى يتم الربط).
device-joining = ينضم هذا الجهاز إلى حسابك فور وصوله إلى الجهاز الذي عرض الرمز: شغّل `cairn run` حيث يكون الاثنان في المتناول (الشبكة نفسها أو البلوتوث أو تور). يُظهر `cairn device list` متى يكتمل ذلك.
device-not-linked-yet = لم يُربط بعد: في انتظار الوصول إلى الجهاز الذي عرض الرمز.
device-this = هذا الجهاز
device-mailbox = صندوق بريد
device-revoked = أُلغي { $name }. يتوقف جهات اتصالك عن الإرسال إليه حين يعلمون بذلك.
member-devices = و{ $count } من الأجهزة الأخرى

# Voice notes
voice-saved = حُفظت الرسالة الصوتية ({ $length }) في { $path }
not-a-voice-note = هذه الرسالة ليست رسالة صوتية.
cannot-play = لا يمكن تشغيلها هنا: { $reason }. احفظها بدلًا من ذلك باستخدام --out FILE.wav.
cannot-read = تعذّرت قراءة { $path }: { $reason }
cannot-write = تعذّرت الكتابة في { $path }: { $reason }
voice-note = رسالة صوتية
