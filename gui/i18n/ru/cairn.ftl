# Cairn's desktop app, Russian.
# Machine-drafted (2026-12): every string needs review by a native speaker.
# Ids and placeables ({ $name }) must stay as they are in en-US/cairn.ftl.

## General
copy = Копировать
dismiss = Закрыть
not-answering = запущенный узел не отвечает: { $error }
could-not-start = не удалось запустить: { $error }
passphrases-differ = Парольные фразы не совпадают.
saved-file = Сохранено: { $path }
someone-new = кто-то новый
new-message-from = Новое сообщение от { $name }
language = Язык:
language-system = Системный

## Onboarding and unlocking
welcome = Добро пожаловать в Cairn
welcome-tagline = Общайтесь с людьми рядом или через Tor — без номера телефона, без аккаунта, без сервера.
your-name = Ваше имя
your-name-hint = его увидят ваши контакты
passphrase = Парольная фраза
repeat-passphrase = Повторите парольную фразу
no-passphrase-warning = Без парольной фразы любой, у кого есть доступ к файлам этого компьютера, может прочитать ваши сообщения.
create-profile = Создать мой профиль
unlock-title = Открыть Cairn
unlock = Открыть

## The top bar
title = Cairn — { $name }
tab-chats = Чаты
tab-groups = Группы
tab-add-contact = Добавить контакт
tab-verify = Проверка
tab-network = Сеть
theme = Тема:
theme-dark = Тёмная
theme-light = Светлая
theme-system = Системная
notifications = Уведомления

## Chats
chats = Чаты
no-contacts = Контактов пока нет. Нажмите «Добавить контакт».
mark-key-changed = (ключ изменился!)
mark-xmpp = (XMPP)
mark-online = (в сети)
unread-many = { $count }+ непрочитанных
unread = { $count } непрочитанных
you-wrote = Вы: { $text }
choose-chat = Выберите чат из списка.
key-changed-warning = Ключ этого контакта изменился. Возможно, кто-то выдаёт себя за него: сравните коды безопасности ещё раз.
bridged-chat = Связан с XMPP через { $gateway }: приватность не выше, чем у XMPP. Шлюз и серверы XMPP могут читать этот чат.
a-gateway = шлюз
message = Сообщение
send = Отправить
file-to-send = Файл для отправки
send-file = Отправить файл
written-at = Написано { $time }
received-at = Получено { $time }
picture = Изображение { $name }
file-sent = отправлен
file-received = получен
save-file = Сохранить { $name }
file-failed = не совпала контрольная сумма; запросите файл ещё раз
file-sending = отправка { $percent }%
file-receiving = получение { $percent }%
file-arriving = в пути от участников

## Delivery states of a message (as the node names them)
state-queued = в очереди
state-sent = отправлено
state-delivered = доставлено
state-held = у их почтового ящика
state-read = прочитано
state-failed = не доставлено
state-carried = в пути
state-received = получено

## Groups
groups = Группы
new-group-name = Название новой группы
create-group = Создать группу
group-entry = { $name } ({ $count ->
    [one] { $count } участник
    [few] { $count } участника
   *[many] { $count } участников
})
mark-bridged = (связана с XMPP)
choose-group = Выберите группу из списка или создайте новую.
members = Участники
member-entry = { $name } ({ $role })
role-admin = администратор
role-member = участник
remove-member = Удалить { $name }
make-member = Сделать { $name } участником
make-admin = Сделать { $name } администратором
add-a-contact = Добавить контакт:
add-member = Добавить { $name }
leave-group = Покинуть группу
group-left = Вы покинули эту группу. Написанное раньше остаётся здесь.
group-removed = Вас удалили из этой группы. Написанное после удаления до вас не дойдёт, и писать в неё вы не можете.
group-message = Сообщение группе
send-to-group = Отправить в группу
bridged-group = Связана с XMPP как { $address }: приватность не выше, чем у XMPP. Шлюз и серверы XMPP могут читать эту группу.
author-xmpp = { $name } (XMPP)
author-you = вы

## Network
network = Сеть
starting = Запуск...
medium-lan = Локальная сеть (LAN)
medium-ble = Bluetooth
medium-tor = Tor
medium-memory = Внутри процесса
links = { $count ->
    [one] { $count } соединение
    [few] { $count } соединения
   *[many] { $count } соединений
}
lan-on = LAN: подключено узлов: { $connected }, найдено: { $discovered }
lan-on-mdns = LAN: подключено узлов: { $connected }, найдено: { $discovered } (mDNS включён)
lan-off = LAN: выключена
ble-ready = Bluetooth: включён — объявляет о себе и ищет людей рядом
ble-ready-adapter = Bluetooth: включён ({ $adapter }) — объявляет о себе и ищет людей рядом
ble-starting = Bluetooth: запуск
ble-unavailable = Bluetooth: { $state } (подробнее: `cairn doctor`)
ble-off = Bluetooth: выключен
tor-connecting = подключение
tor-publishing = публикация вашего onion-сервиса
tor-ready = доступен
tor-failed = ошибка
tor-status = Tor: { $stage } — { $detail }
onion-address = Ваш onion-адрес:
tor-off = Tor: выключен
carrying = Доставка для других
carried = Сообщений в пути: { $count }; свободно { $room } КиБ из { $capacity } КиБ
handed-on = Передано: { $handed }   Отклонено: { $refused }

## Adding a contact
add-contact-title = Добавить контакт
add-contact-help = Покажите им свой код или отправьте ссылку; их ссылку добавьте ниже.
your-invite = Ваше приглашение
their-invite = Их приглашение
add = Добавить
qr-help = Или откройте снимок их QR-кода (его можно и перетащить в это окно).
invite-image-file = Файл с изображением приглашения
open-image = Открыть изображение

## Verifying
choose-chat-first = Сначала выберите чат.
verify-title = Проверка: { $name }
verify-help = Сравните эти числа с числами на их экране — лично или во время звонка. Если они совпадают, посредника нет.
verified = Проверено
mark-verified = Совпадают: отметить как проверенный

## Backup and restore
menu-profile = Профиль
menu-backup = Резервная копия…
backup-title = Резервная копия этого профиля
backup-explain = Один зашифрованный файл с вашей личностью, контактами, группами и историей. Храните его отдельно от пароля: вместе они — это вы.
backup-file = Файл копии
backup-passphrase = Пароль копии
backup-with-files = Вместе с файлами
backup-write = Записать копию
backup-done = Записано в { $path } — контакты: { $contacts }, сообщения: { $messages }, группы: { $groups }.
backup-no-passphrase = Копии нужен пароль: в ней ключ вашей личности.
restore-title = Или восстановите профиль из копии
restore-explain = Выберите выше пароль для этого устройства, затем:
restore = Восстановить

## Devices (Profile → Devices…, and linking on the first screen)
menu-devices = Устройства…
devices-title = Ваши устройства
devices-explain = Каждое сообщение вам или от вас доходит до всех этих устройств. Новое устройство получает ваши контакты и историю за последние 30 дней.
loading = Загрузка…
device-not-linked-yet = Ещё не привязано: ждём связи с устройством, показавшим код.
device-this = { $name } (это устройство)
device-mailbox = почтовый ящик
device-revoke = Отозвать
devices-revoked = Отозванных устройств: { $count }
device-revoked = { $name } отозвано. Ваши контакты перестанут отправлять ему сообщения, когда узнают об этом.
devices-not-holder = Привязывать и отзывать устройства может только ваше первое устройство.
device-link = Привязать новое устройство
device-link-help = На новом устройстве выберите «Привязать это устройство» и введите (или отсканируйте) этот код в течение десяти минут. Он действует один раз; не закрывайте это окно до привязки.
device-link-code = Код привязки
link-title = Или привяжите это устройство к своему профилю на другом устройстве
link-explain = На другом устройстве: Профиль → Устройства… → Привязать новое устройство. Затем это устройство получит ваши контакты и недавнюю историю.
device-name = Имя этого устройства
device-default-name = новое устройство
link-this-device = Привязать это устройство
link-bad-code = Это не код привязки: { $error }

## Replies, reactions, edits, deletions, disappearing messages
reply = Ответить
react-with = Реакция { $emoji }
edit = Изменить
delete-for-everyone = Удалить у всех
message-actions = Действия с сообщением
replying-to = Ответ на: { $quote }
editing = Изменение вашего сообщения
cancel = Отмена
edited = (изменено)
message-deleted = Это сообщение удалено
quote-gone = сообщение, которого здесь больше нет
timer-set = Сообщения исчезают через { $after } после доставки
timer-off = Исчезающие сообщения выключены
timer-none = Выкл.
disappearing = Исчезающие сообщения

# Voice notes
hold-to-record = Удерживайте, чтобы записать голосовое
release-to-send = Отпустите, чтобы отправить
recording = Запись { $time }
voice-too-short = Удерживайте кнопку, пока говорите (запись слишком короткая).
voice-failed = Голосовое сообщение: { $reason }
voice-note = Голосовое { $length }
voice-unreadable = Это голосовое сообщение не воспроизвести.
play-voice = Слушать
stop-voice = Стоп
voice-position = { $at } / { $length }
