# Cairn's desktop app, Simplified Chinese.
# Machine-drafted (2026-12): every string needs review by a native speaker.
# Ids and placeables ({ $name }) must stay as they are in en-US/cairn.ftl.

## General
copy = 复制
dismiss = 关闭
not-answering = 正在运行的节点没有响应：{ $error }
could-not-start = 无法启动：{ $error }
passphrases-differ = 两次输入的密码短语不一致。
saved-file = 已保存到 { $path }
someone-new = 新联系人
new-message-from = 来自 { $name } 的新消息
language = 语言：
language-system = 跟随系统

## Onboarding and unlocking
welcome = 欢迎使用 Cairn
welcome-tagline = 与身边的人或通过 Tor 聊天——无需手机号、无需账号、无需服务器。
your-name = 你的名字
your-name-hint = 联系人看到的名字
passphrase = 密码短语
repeat-passphrase = 再次输入密码短语
no-passphrase-warning = 没有密码短语，任何能读取这台电脑文件的人都能读到你的消息。
create-profile = 创建我的资料
unlock-title = 解锁 Cairn
unlock = 解锁

## The top bar
title = Cairn — { $name }
tab-chats = 聊天
tab-groups = 群组
tab-add-contact = 添加联系人
tab-verify = 验证
tab-network = 网络
theme = 主题：
theme-dark = 深色
theme-light = 浅色
theme-system = 跟随系统
notifications = 通知

## Chats
chats = 聊天
no-contacts = 还没有联系人。请使用“添加联系人”。
mark-key-changed = （密钥已更改！）
mark-xmpp = （XMPP）
mark-online = （在线）
unread-many = { $count }+ 条未读
unread = { $count } 条未读
you-wrote = 你：{ $text }
choose-chat = 从列表中选择一个聊天。
key-changed-warning = 此联系人的密钥已更改。可能有人在冒充对方：请再次核对安全码。
bridged-chat = 通过 { $gateway } 桥接到 XMPP：隐私程度与 XMPP 相同。网关和 XMPP 服务器可以读取此聊天。
a-gateway = 一个网关
message = 消息
send = 发送
file-to-send = 要发送的文件
send-file = 发送文件
written-at = 写于 { $time }
received-at = 收到于 { $time }
picture = 图片 { $name }
file-sent = 已发送
file-received = 已接收
save-file = 保存 { $name }
file-failed = 校验和不匹配；请重新索取
file-sending = 正在发送 { $percent }%
file-receiving = 正在接收 { $percent }%
file-arriving = 正从成员处传来

## Delivery states of a message (as the node names them)
state-queued = 排队中
state-sent = 已发送
state-delivered = 已送达
state-held = 已存于对方信箱
state-read = 已读
state-failed = 失败
state-carried = 转运中
state-received = 已接收

## Groups
groups = 群组
new-group-name = 新群组名称
create-group = 创建群组
group-entry = { $name }（{ $count } 位成员）
mark-bridged = （已桥接到 XMPP）
choose-group = 从列表中选择或创建一个群组。
members = 成员
member-entry = { $name }（{ $role }）
role-admin = 管理员
role-member = 成员
remove-member = 移除 { $name }
make-member = 将 { $name } 设为成员
make-admin = 将 { $name } 设为管理员
add-a-contact = 添加联系人：
add-member = 添加 { $name }
leave-group = 退出群组
group-left = 你已退出此群组。之前的消息仍保留在这里。
group-removed = 你已被移出此群组。之后的消息不会发给你，你也不能再发言。
group-message = 群组消息
send-to-group = 发送到群组
bridged-group = 以 { $address } 桥接到 XMPP：隐私程度与 XMPP 相同。网关和 XMPP 服务器可以读取此群组。
author-xmpp = { $name }（XMPP）
author-you = 你

## Network
network = 网络
starting = 正在启动...
medium-lan = 局域网（LAN）
medium-ble = 蓝牙
medium-tor = Tor
medium-memory = 进程内
links = { $count } 条连接
lan-on = LAN：已连接 { $connected } 个节点，发现 { $discovered } 个
lan-on-mdns = LAN：已连接 { $connected } 个节点，发现 { $discovered } 个（mDNS 已开启）
lan-off = LAN：关闭
ble-ready = 蓝牙：开启——正在广播并寻找附近的人
ble-ready-adapter = 蓝牙：开启（{ $adapter }）——正在广播并寻找附近的人
ble-starting = 蓝牙：正在启动
ble-unavailable = 蓝牙：{ $state }（`cairn doctor` 可提供详情）
ble-off = 蓝牙：关闭
tor-connecting = 正在连接
tor-publishing = 正在发布你的洋葱服务
tor-ready = 可访问
tor-failed = 失败
tor-status = Tor：{ $stage } — { $detail }
onion-address = 你的洋葱地址：
tor-off = Tor：关闭
carrying = 为他人转运
carried = 已转运 { $count } 条消息；剩余 { $room } KiB（共 { $capacity } KiB）
handed-on = 已转交：{ $handed }   已拒绝：{ $refused }

## Adding a contact
add-contact-title = 添加联系人
add-contact-help = 向对方出示你的二维码，或发送你的链接；在下方添加对方的链接。
your-invite = 你的邀请
their-invite = 对方的邀请
add = 添加
qr-help = 或打开对方二维码的图片（也可以拖放到此窗口）。
invite-image-file = 邀请图片文件
open-image = 打开图片

## Verifying
choose-chat-first = 请先选择一个聊天。
verify-title = 验证 { $name }
verify-help = 当面或通话时，将这些数字与对方屏幕上的数字比较。如果一致，就没有中间人。
verified = 已验证
mark-verified = 一致：标记为已验证

## Backup and restore
menu-profile = 资料
menu-backup = 备份…
backup-title = 备份此资料
backup-explain = 一个加密文件，包含你的身份、联系人、群组和历史。请与其密码分开保存：二者合在一起就是你。
backup-file = 备份文件
backup-passphrase = 备份密码
backup-with-files = 包括文件
backup-write = 写入备份
backup-done = 已写入 { $path } — 联系人：{ $contacts }，消息：{ $messages }，群组：{ $groups }。
backup-no-passphrase = 备份需要密码：其中有你身份的密钥。
restore-title = 或从备份恢复资料
restore-explain = 先在上方为此设备选择密码，然后：
restore = 恢复

## Devices (Profile → Devices…, and linking on the first screen)
menu-devices = 设备…
devices-title = 你的设备
devices-explain = 发给你或由你发出的每条消息都会到达所有这些设备。新设备会获得你的联系人和最近 30 天的历史。
loading = 正在加载…
device-not-linked-yet = 尚未链接：正在等待连上显示代码的设备。
device-this = { $name }（本设备）
device-mailbox = 信箱
device-revoke = 撤销
devices-revoked = 已撤销的设备：{ $count }
device-revoked = 已撤销 { $name }。你的联系人得知后将不再向它发送消息。
devices-not-holder = 只有你的第一台设备可以链接或撤销设备。
device-link = 链接新设备
device-link-help = 在新设备上选择“链接此设备”，并在十分钟内输入（或扫描）此代码。代码仅可使用一次；在链接完成前请保持此窗口打开。
device-link-code = 链接代码
link-title = 或将此设备链接到你在另一台设备上的个人资料
link-explain = 在另一台设备上：个人资料 → 设备… → 链接新设备。之后此设备会获得你的联系人和最近的历史。
device-name = 此设备的名称
device-default-name = 新设备
link-this-device = 链接此设备
link-bad-code = 这不是链接代码：{ $error }

## Replies, reactions, edits, deletions, disappearing messages
reply = 回复
react-with = 用 { $emoji } 回应
edit = 编辑
delete-for-everyone = 为所有人删除
message-actions = 消息操作
replying-to = 回复：{ $quote }
editing = 正在编辑你的消息
cancel = 取消
edited = （已编辑）
message-deleted = 此消息已删除
quote-gone = 已不在此处的消息
timer-set = 消息送达 { $after } 后消失
timer-off = 阅后即焚已关闭
timer-none = 关闭
disappearing = 阅后即焚

# Voice notes
hold-to-record = 按住录制语音消息
release-to-send = 松开发送
recording = 正在录音 { $time }
voice-too-short = 说话时请按住按钮（录音太短，无法发送）。
voice-failed = 语音消息：{ $reason }
voice-note = 语音消息 { $length }
voice-unreadable = 无法播放这条语音消息。
play-voice = 播放
stop-voice = 停止
voice-position = { $at } / { $length }
