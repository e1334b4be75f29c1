# The `cairn` command line, Simplified Chinese.
# Machine-drafted (2026-12): every string needs review by a native speaker.

empty-passphrase = 警告：密码短语为空：任何能读取此设备文件的人都能读到你的消息
created-profile = 已在 { $dir } 创建资料“{ $name }”
added = 已添加 { $name }（{ $id }）
compare-safety = 当面核对安全码：cairn verify { $name }
saved = 已保存到 { $path }
no-contacts = 还没有联系人。分享 `cairn invite`，并用 `cairn add` 添加对方的邀请。
no-node = { $dir } 上没有正在运行的节点。
key-changed = !! { $name } 的密钥自你上次核对后已更改。信任之前请再次核对。
safety-number = 与 { $name } 的安全码：
is-verified = { $name } 已验证。
compare-digits = 当面或通话时，将这些数字与 { $name } 屏幕上的数字比较。
if-they-match = 如果一致：cairn verify { $name } --confirm
group-line = { $count } 位成员，{ $messages } 条消息，你：{ $role }
group-bridged = 以 { $address } 桥接到 XMPP：隐私程度与 XMPP 相同
group-created = 已创建“{ $name }”。添加联系人：cairn group add { $name } CONTACT
no-messages = 还没有消息。
author-you = 你
author-xmpp = { $name }（XMPP，经由 { $gateway }）
group-left = 已退出“{ $name }”；其历史记录仍可在此阅读。
no-groups = 还没有群组。用 `cairn group create NAME` 创建一个。
wrote-file = 已将“{ $name }”（{ $bytes } 字节）写入 { $path }
watching = 正在关注 { $dir } 上的节点。按 Ctrl-C 停止。
node-stopped = 节点已停止。
profile-busy = 资料正被占用（另一个 cairn 命令？）；等待中…
node-running = Cairn 节点 { $id } 正在运行。按 Ctrl-C 停止。
runs-on-what-works = Cairn 使用可用的方式运行；其余保持关闭。
file-sent = { $name } 已发送：{ $contact } 已收到全部（{ $size }）。
file-queued = { $contact } 现在不可达：文件已排队，连接后会自动继续（`cairn messages { $contact }` 显示进度）。
bridge-asked = 已请求 { $gateway } 为你桥接。对方回应后，`cairn status` 会显示你的 XMPP 地址。
bridge-remember = 请记住：经过网关的内容，隐私程度与 XMPP 相同。
bridge-left = 已离开网关；XMPP 用户无法再通过它给你写信。
bridge-added = 已在 XMPP 上添加 { $name }（{ $id }）
bridge-write = 发送方式：cairn send { $id } "…"

## Contacts (`cairn contacts`)
flag-verified = 已验证
flag-key-changed = 密钥已更改
flag-wrote-first = 对方先发来消息
flag-online = 在线
flag-disappearing = { $after } 后消失
flag-not-forward-secret = 见面之前离线消息没有前向保密
flag-forward-secret-once-met = 见面之后离线消息具有完整前向保密
xmpp-contact = 经由 { $via } 的 XMPP（隐私程度与 XMPP 相同），{ $presence }
presence-unknown = 状态未知

## Files in a conversation
file-complete = 完成
file-corrupt = 完整性校验失败
file-arriving = 正从成员处传来
msg-edited = （已编辑）
msg-deleted = 消息已删除
msg-reply-to = 回复“{ $quote }”
msg-timer-set = 消息送达 { $after } 后消失
msg-timer-off = 阅后即焚已关闭

## Devices (`cairn device`, `cairn init --link`)
device-link-code = 请在 { $minutes } 分钟内在新设备上运行：cairn init --link CODE（代码仅可使用一次；在链接完成前请保持此节点运行）。
device-joining = 此设备一旦连上显示代码的设备，就会加入你的账户：在两者都可达的地方（同一网络、蓝牙或 Tor）运行 `cairn run`。`cairn device list` 会显示何时完成。
device-not-linked-yet = 尚未链接：正在等待连上显示代码的设备。
device-this = 本设备
device-mailbox = 信箱
device-revoked = 已撤销 { $name }。你的联系人得知后将不再向它发送消息。
member-devices = 另有 { $count } 台设备

# Voice notes
voice-saved = 语音消息（{ $length }）已保存到 { $path }
not-a-voice-note = 这条消息不是语音消息。
cannot-play = 无法在此播放：{ $reason }。请改用 --out FILE.wav 保存。
cannot-read = 无法读取 { $path }：{ $reason }
cannot-write = 无法写入 { $path }：{ $reason }
voice-note = 语音消息
