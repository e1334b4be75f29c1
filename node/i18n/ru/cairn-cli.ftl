# The `cairn` command line, Russian.
# Machine-drafted (2026-12): every string needs review by a native speaker.

empty-passphrase = предупреждение: пустая парольная фраза: любой, у кого есть доступ к файлам этого устройства, может прочитать ваши сообщения
created-profile = Создан профиль «{ $name }» в { $dir }
added = Добавлен { $name } ({ $id })
compare-safety = Сравните коды безопасности лично: cairn verify { $name }
saved = сохранено: { $path }
no-contacts = Контактов пока нет. Поделитесь `cairn invite` и добавьте их приглашение через `cairn add`.
no-node = На { $dir } не запущен ни один узел.
key-changed = !! Ключ { $name } ИЗМЕНИЛСЯ с вашей последней проверки. Сравните снова, прежде чем доверять.
safety-number = Код безопасности с { $name }:
is-verified = { $name } проверен.
compare-digits = Сравните эти цифры с цифрами на экране { $name } — лично или во время звонка.
if-they-match = Если совпадают: cairn verify { $name } --confirm
group-line = { $count ->
    [one] { $count } участник
    [few] { $count } участника
   *[many] { $count } участников
}, { $messages ->
    [one] { $messages } сообщение
    [few] { $messages } сообщения
   *[many] { $messages } сообщений
}, вы: { $role }
group-bridged = связана с XMPP как { $address }: приватность не выше, чем у XMPP
group-created = Создана «{ $name }». Добавьте контакты: cairn group add { $name } CONTACT
no-messages = Сообщений пока нет.
author-you = вы
author-xmpp = { $name } (XMPP, через { $gateway })
group-left = Вы покинули «{ $name }»; её история остаётся здесь.
no-groups = Групп пока нет. Создайте: `cairn group create NAME`.
wrote-file = «{ $name }» ({ $bytes } байт) записан в { $path }
watching = Наблюдение за узлом на { $dir }. Ctrl-C — остановить.
node-stopped = Узел остановлен.
profile-busy = Профиль занят (другая команда cairn?); ожидание…
node-running = Узел Cairn { $id } запущен. Ctrl-C — остановить.
runs-on-what-works = Cairn работает на том, что доступно; остальное выключено.
file-sent = { $name } отправлен: у { $contact } он весь ({ $size }).
file-queued = { $contact } сейчас вне досягаемости: файл в очереди и продолжит отправляться сам, когда вы будете на связи (`cairn messages { $contact }` покажет прогресс).
bridge-asked = Шлюз { $gateway } попрошен связать вас. `cairn status` покажет ваш адрес XMPP, когда он ответит.
bridge-remember = Помните: всё, что идёт через шлюз, не приватнее XMPP.
bridge-left = Вы покинули шлюз; пользователи XMPP больше не могут писать вам через него.
bridge-added = Добавлен { $name } ({ $id }) в XMPP
bridge-write = Писать так: cairn send { $id } "…"

## Contacts (`cairn contacts`)
flag-verified = проверен
flag-key-changed = КЛЮЧ ИЗМЕНИЛСЯ
flag-wrote-first = написал первым
flag-online = в сети
flag-disappearing = исчезают через { $after }
flag-not-forward-secret = офлайн-сообщения без прямой секретности до встречи
flag-forward-secret-once-met = офлайн-сообщения с полной прямой секретностью после встречи
xmpp-contact = XMPP через { $via } (не приватнее XMPP), { $presence }
presence-unknown = статус неизвестен

## Files in a conversation
file-complete = готово
file-corrupt = не прошёл проверку целостности
file-arriving = в пути от участников
msg-edited = (изменено)
msg-deleted = сообщение удалено
msg-reply-to = ответ на «{ $quote }»
msg-timer-set = сообщения исчезают через { $after } после доставки
msg-timer-off = исчезающие сообщения выключены

## Devices (`cairn device`, `cairn init --link`)
device-link-code = На новом устройстве в течение { $minutes } минут: cairn init --link CODE (код действует один раз; не останавливайте этот узел, пока устройство не привязано).
device-joining = Это устройство присоединится к вашей учётной записи, как только свяжется с устройством, показавшим код: запустите `cairn run` там, где оба доступны (та же сеть, Bluetooth или Tor). `cairn device list` покажет, когда всё готово.
device-not-linked-yet = Ещё не привязано: ждём связи с устройством, показавшим код.
device-this = это устройство
device-mailbox = почтовый ящик
device-revoked = { $name } отозвано. Ваши контакты перестанут отправлять ему сообщения, когда узнают об этом.
member-devices = и ещё устройств: { $count }

# Voice notes
voice-saved = Голосовое сообщение ({ $length }) сохранено в { $path }
not-a-voice-note = Это сообщение не голосовое.
cannot-play = Здесь его не воспроизвести: { $reason }. Сохраните его с --out FILE.wav.
cannot-read = Не удаётся прочитать { $path }: { $reason }
cannot-write = Не удаётся записать { $path }: { $reason }
voice-note = голосовое сообщение
