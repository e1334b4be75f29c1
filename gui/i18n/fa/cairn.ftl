# Cairn's desktop app, Persian.
# Machine-drafted (2026-12): every string needs review by a native speaker.
# Ids and placeables ({ $name }) must stay as they are in en-US/cairn.ftl.

## General
copy = رونوشت
dismiss = بستن
not-answering = گره در حال اجرا پاسخ نمی‌دهد: { $error }
could-not-start = راه‌اندازی نشد: { $error }
passphrases-differ = دو گذرواژه یکسان نیستند.
saved-file = ذخیره شد: { $path }
someone-new = فردی تازه
new-message-from = پیام تازه از { $name }
language = زبان:
language-system = زبان سیستم

## Onboarding and unlocking
welcome = به Cairn خوش آمدید
welcome-tagline = با مردم نزدیک یا از راه تور گفتگو کنید — بی شماره تلفن، بی حساب کاربری، بی سرور.
your-name = نام شما
your-name-hint = آنچه مخاطبانتان می‌بینند
passphrase = گذرواژه
repeat-passphrase = تکرار گذرواژه
no-passphrase-warning = بدون گذرواژه، هر کس به پرونده‌های این رایانه دسترسی داشته باشد می‌تواند پیام‌هایتان را بخواند.
create-profile = ساختن نمایه‌ی من
unlock-title = گشودن Cairn
unlock = گشودن

## The top bar
title = Cairn — { $name }
tab-chats = گفتگوها
tab-groups = گروه‌ها
tab-add-contact = افزودن مخاطب
tab-verify = تأیید
tab-network = شبکه
theme = پوسته:
theme-dark = تیره
theme-light = روشن
theme-system = سیستم
notifications = آگاه‌سازی‌ها

## Chats
chats = گفتگوها
no-contacts = هنوز مخاطبی ندارید. از «افزودن مخاطب» استفاده کنید.
mark-key-changed = (کلید عوض شده!)
mark-xmpp = (XMPP)
mark-online = (برخط)
unread-many = { $count }+ نخوانده
unread = { $count } نخوانده
you-wrote = شما: { $text }
choose-chat = یک گفتگو را از فهرست برگزینید.
key-changed-warning = کلید این مخاطب عوض شده است. شاید کسی خود را جای او جا می‌زند: شماره‌های امنیتی را دوباره مقایسه کنید.
bridged-chat = از راه { $gateway } به XMPP پل زده شده: تنها به اندازه‌ی XMPP خصوصی است. دروازه و سرورهای XMPP می‌توانند این گفتگو را بخوانند.
a-gateway = یک دروازه
message = پیام
send = فرستادن
file-to-send = پرونده برای فرستادن
send-file = فرستادن پرونده
written-at = نوشته‌شده { $time }
received-at = دریافت‌شده { $time }
picture = تصویر { $name }
file-sent = فرستاده شد
file-received = دریافت شد
save-file = ذخیره‌ی { $name }
file-failed = با چکیده‌اش جور نبود؛ دوباره درخواستش کنید
file-sending = در حال فرستادن { $percent }٪
file-receiving = در حال دریافت { $percent }٪
file-arriving = در راه از اعضا

## Delivery states of a message (as the node names them)
state-queued = در صف
state-sent = فرستاده شد
state-delivered = رسید
state-held = در صندوق پستی‌شان
state-read = خوانده شد
state-failed = ناموفق
state-carried = در راه
state-received = دریافت شد

## Groups
groups = گروه‌ها
new-group-name = نام گروه تازه
create-group = ساختن گروه
group-entry = { $name } ({ $count } عضو)
mark-bridged = (پل‌زده به XMPP)
choose-group = یک گروه را از فهرست برگزینید یا بسازید.
members = اعضا
member-entry = { $name } ({ $role })
role-admin = مدیر
role-member = عضو
remove-member = برداشتن { $name }
make-member = { $name } عضو شود
make-admin = { $name } مدیر شود
add-a-contact = افزودن یک مخاطب:
add-member = افزودن { $name }
leave-group = ترک گروه
group-left = شما این گروه را ترک کردید. آنچه پیش‌تر نوشته شده اینجا می‌ماند.
group-removed = شما از این گروه برداشته شدید. آنچه پس از آن نوشته شود به شما نمی‌رسد و نمی‌توانید در آن بنویسید.
group-message = پیام گروه
send-to-group = فرستادن به گروه
bridged-group = با نشانی { $address } به XMPP پل زده شده: تنها به اندازه‌ی XMPP خصوصی است. دروازه و سرورهای XMPP می‌توانند این گروه را بخوانند.
author-xmpp = { $name } (XMPP)
author-you = شما

## Network
network = شبکه
starting = در حال آغاز...
medium-lan = شبکه‌ی محلی (LAN)
medium-ble = بلوتوث
medium-tor = تور
medium-memory = درون‌برنامه‌ای
links = { $count } پیوند
lan-on = LAN: { $connected } همتای وصل، { $discovered } یافته‌شده
lan-on-mdns = LAN: { $connected } همتای وصل، { $discovered } یافته‌شده (mDNS روشن)
lan-off = LAN: خاموش
ble-ready = بلوتوث: روشن — در حال اعلام حضور و جستجوی افراد نزدیک
ble-ready-adapter = بلوتوث: روشن ({ $adapter }) — در حال اعلام حضور و جستجوی افراد نزدیک
ble-starting = بلوتوث: در حال آغاز
ble-unavailable = بلوتوث: { $state } (`cairn doctor` بیشتر می‌گوید)
ble-off = بلوتوث: خاموش
tor-connecting = در حال وصل شدن
tor-publishing = در حال انتشار سرویس پیازی شما
tor-ready = در دسترس
tor-failed = ناموفق
tor-status = تور: { $stage } — { $detail }
onion-address = نشانی پیازی شما:
tor-off = تور: خاموش
carrying = حمل برای دیگران
carried = { $count } پیام حمل شد؛ { $room } از { $capacity } کیلوبایت جا مانده
handed-on = سپرده‌شده: { $handed }   پذیرفته‌نشده: { $refused }

## Adding a contact
add-contact-title = افزودن یک مخاطب
add-contact-help = کد خود را نشانشان دهید یا پیوندتان را بفرستید؛ مال آنها را در پایین بیفزایید.
your-invite = دعوت‌نامه‌ی شما
their-invite = دعوت‌نامه‌ی آنها
add = افزودن
qr-help = یا تصویری از کد QR آنها را باز کنید (می‌توانید آن را روی این پنجره هم رها کنید).
invite-image-file = پرونده‌ی تصویر دعوت‌نامه
open-image = باز کردن تصویر

## Verifying
choose-chat-first = نخست یک گفتگو را برگزینید.
verify-title = تأیید { $name }
verify-help = این شماره‌ها را با آنچه روی صفحه‌ی آنهاست، حضوری یا در یک تماس، مقایسه کنید. اگر یکی باشند، کسی در میانه نیست.
verified = تأییدشده
mark-verified = یکی هستند: تأییدشده علامت بزن

## Backup and restore
menu-profile = نمایه
menu-backup = پشتیبان‌گیری…
backup-title = پشتیبان‌گیری از این نمایه
backup-explain = یک فایل رمزگذاری‌شده با هویت، مخاطبان، گروه‌ها و تاریخچهٔ شما. آن را جدا از عبارت عبورش نگه دارید: این دو با هم، شما هستند.
backup-file = فایل پشتیبان
backup-passphrase = عبارت عبور پشتیبان
backup-with-files = همراه با فایل‌ها
backup-write = نوشتن پشتیبان
backup-done = در { $path } نوشته شد — مخاطبان: { $contacts }، پیام‌ها: { $messages }، گروه‌ها: { $groups }.
backup-no-passphrase = پشتیبان به عبارت عبور نیاز دارد: کلید هویت شما در آن است.
restore-title = یا نمایه‌ای را از پشتیبان برگردانید
restore-explain = بالا برای این دستگاه عبارت عبوری برگزینید، سپس:
restore = بازگردانی

## Devices (Profile → Devices…, and linking on the first screen)
menu-devices = دستگاه‌ها…
devices-title = دستگاه‌های شما
devices-explain = هر پیامی که به شما یا از شما فرستاده شود به همهٔ این‌ها می‌رسد. دستگاه تازه مخاطبان شما و تاریخچهٔ ۳۰ روز گذشته را می‌گیرد.
loading = در حال بارگذاری…
device-not-linked-yet = هنوز پیوند نشده: در انتظار رسیدن به دستگاهی که کد را نشان داد.
device-this = { $name } (این دستگاه)
device-mailbox = صندوق پستی
device-revoke = لغو
devices-revoked = دستگاه‌های لغوشده: { $count }
device-revoked = { $name } لغو شد. مخاطبان شما با باخبر شدن، دیگر به آن پیام نمی‌فرستند.
devices-not-holder = فقط نخستین دستگاه شما می‌تواند دستگاه‌ها را پیوند یا لغو کند.
device-link = پیوند دستگاه تازه
device-link-help = روی دستگاه تازه «پیوند این دستگاه» را برگزینید و این کد را ظرف ده دقیقه وارد (یا اسکن) کنید. فقط یک بار کار می‌کند؛ این پنجره را تا پایان پیوند باز نگه دارید.
device-link-code = کد پیوند
link-title = یا این دستگاه را به نمایهٔ خود روی دستگاهی دیگر پیوند دهید
link-explain = روی دستگاه دیگر: نمایه ← دستگاه‌ها… ← پیوند دستگاه تازه. سپس این دستگاه مخاطبان و تاریخچهٔ اخیر شما را می‌گیرد.
device-name = نام این دستگاه
device-default-name = دستگاه تازه
link-this-device = پیوند این دستگاه
link-bad-code = این کد پیوند نیست: { $error }

## Replies, reactions, edits, deletions, disappearing messages
reply = پاسخ
react-with = واکنش با { $emoji }
edit = ویرایش
delete-for-everyone = حذف برای همه
message-actions = کارهای پیام
replying-to = در پاسخ به: { $quote }
editing = در حال ویرایش پیام شما
cancel = لغو
edited = (ویرایش‌شده)
message-deleted = این پیام حذف شد
quote-gone = پیامی که دیگر اینجا نیست
timer-set = پیام‌ها { $after } پس از رسیدن ناپدید می‌شوند
timer-off = پیام‌های ناپدیدشونده خاموش است
timer-none = خاموش
disappearing = پیام‌های ناپدیدشونده

# Voice notes
hold-to-record = برای ضبط پیام صوتی نگه دارید
release-to-send = برای ارسال رها کنید
recording = در حال ضبط { $time }
voice-too-short = هنگام صحبت دکمه را نگه دارید (برای ارسال خیلی کوتاه بود).
voice-failed = پیام صوتی: { $reason }
voice-note = پیام صوتی { $length }
voice-unreadable = این پیام صوتی پخش نمی‌شود.
play-voice = پخش
stop-voice = توقف
voice-position = { $at } / { $length }
