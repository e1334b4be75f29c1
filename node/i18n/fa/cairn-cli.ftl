# The `cairn` command line, Persian.
# Machine-drafted (2026-12): every string needs review by a native speaker.

empty-passphrase = هشدار: گذرواژه خالی است: هر کس به پرونده‌های این دستگاه دسترسی داشته باشد می‌تواند پیام‌هایتان را بخواند
created-profile = نمایه‌ی «{ $name }» در { $dir } ساخته شد
added = { $name } ({ $id }) افزوده شد
compare-safety = شماره‌های امنیتی را حضوری مقایسه کنید: cairn verify { $name }
saved = ذخیره شد: { $path }
no-contacts = هنوز مخاطبی ندارید. `cairn invite` را بفرستید و دعوت آنها را با `cairn add` بیفزایید.
no-node = هیچ گره‌ای روی { $dir } در حال اجرا نیست.
key-changed = !! کلید { $name } از آخرین بررسی شما عوض شده است. پیش از اعتماد دوباره مقایسه کنید.
safety-number = شماره‌ی امنیتی با { $name }:
is-verified = { $name } تأیید شده است.
compare-digits = این رقم‌ها را با رقم‌های روی صفحه‌ی { $name }، حضوری یا در یک تماس، مقایسه کنید.
if-they-match = اگر یکی بودند: cairn verify { $name } --confirm
group-line = { $count } عضو، { $messages } پیام، شما: { $role }
group-bridged = با نشانی { $address } به XMPP پل زده شده: تنها به اندازه‌ی XMPP خصوصی است
group-created = «{ $name }» ساخته شد. مخاطبان را با این فرمان بیفزایید: cairn group add { $name } CONTACT
no-messages = هنوز پیامی نیست.
author-you = شما
author-xmpp = { $name } (XMPP، از راه { $gateway })
group-left = «{ $name }» را ترک کردید؛ تاریخچه‌اش اینجا خواندنی می‌ماند.
no-groups = هنوز گروهی ندارید. با `cairn group create NAME` یکی بسازید.
wrote-file = «{ $name }» ({ $bytes } بایت) در { $path } نوشته شد
watching = در حال دنبال کردن گره روی { $dir }. Ctrl-C آن را متوقف می‌کند.
node-stopped = گره متوقف شد.
profile-busy = نمایه مشغول است (یک فرمان cairn؟)؛ در انتظار…
node-running = گره‌ی Cairn { $id } در حال اجراست. Ctrl-C آن را متوقف می‌کند.
runs-on-what-works = Cairn با آنچه کار می‌کند اجرا می‌شود؛ بقیه خاموش می‌ماند.
file-sent = { $name } فرستاده شد: همه‌ی آن ({ $size }) به { $contact } رسید.
file-queued = { $contact } اکنون در دسترس نیست: پرونده در صف است و وقتی به هم وصل شوید خودش ادامه می‌یابد (`cairn messages { $contact }` نشان می‌دهد تا کجا رفته).
bridge-asked = از { $gateway } خواسته شد شما را پل بزند. `cairn status` نشانی XMPP شما را پس از پاسخ نشان می‌دهد.
bridge-remember = به یاد داشته باشید: آنچه از دروازه می‌گذرد تنها به اندازه‌ی XMPP خصوصی است.
bridge-left = از دروازه بیرون آمدید؛ کاربران XMPP دیگر نمی‌توانند از راه آن برایتان بنویسند.
bridge-added = { $name } ({ $id }) در XMPP افزوده شد
bridge-write = برای نوشتن: cairn send { $id } "…"

## Contacts (`cairn contacts`)
flag-verified = تأییدشده
flag-key-changed = کلید عوض شده
flag-wrote-first = نخست او نوشت
flag-online = برخط
flag-disappearing = ناپدید پس از { $after }
flag-not-forward-secret = پیام‌های آفلاین تا دیدار بعدی رازداری پیشرو ندارند
flag-forward-secret-once-met = پیام‌های آفلاین پس از دیدار رازداری پیشروی کامل دارند
xmpp-contact = XMPP از راه { $via } (تنها به اندازه‌ی XMPP خصوصی)، { $presence }
presence-unknown = وضعیت نامعلوم

## Files in a conversation
file-complete = کامل
file-corrupt = بررسی درستی‌اش ناموفق بود
file-arriving = در راه از اعضا
msg-edited = (ویرایش‌شده)
msg-deleted = پیام حذف شد
msg-reply-to = پاسخ به «{ $quote }»
msg-timer-set = پیام‌ها { $after } پس از رسیدن ناپدید می‌شوند
msg-timer-off = پیام‌های ناپدیدشونده خاموش

## Devices (`cairn device`, `cairn init --link`)
device-link-code = روی دستگاه تازه، ظرف { $minutes } دقیقه: cairn init --link CODE (کد فقط یک بار کار می‌کند؛ این گره را تا پایان پیوند روشن نگه دارید).
device-joining = این دستگاه به محض رسیدن به دستگاهی که کد را نشان داد به حساب شما می‌پیوندد: `cairn run` را جایی اجرا کنید که هر دو در دسترس باشند (همان شبکه، بلوتوث یا تور). `cairn device list` پایان کار را نشان می‌دهد.
device-not-linked-yet = هنوز پیوند نشده: در انتظار رسیدن به دستگاهی که کد را نشان داد.
device-this = این دستگاه
device-mailbox = صندوق پستی
device-revoked = { $name } لغو شد. مخاطبان شما با باخبر شدن، دیگر به آن پیام نمی‌فرستند.
member-devices = و { $count } دستگاه دیگر

# Voice notes
voice-saved = پیام صوتی ({ $length }) در { $path } ذخیره شد
not-a-voice-note = این پیام، پیام صوتی نیست.
cannot-play = اینجا پخش نمی‌شود: { $reason }. به جای آن با --out FILE.wav ذخیره‌اش کنید.
cannot-read = { $path } خوانده نمی‌شود: { $reason }
cannot-write = در { $path } نوشته نمی‌شود: { $reason }
voice-note = پیام صوتی
