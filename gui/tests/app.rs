//! The real app, driven through its accessibility tree (egui_kittest): what
//! is asserted is what is on screen, found by label.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use cairn_gui::CairnApp;
use cairn_node::api::{GroupMessageInfo, Reply, Request};
use cairn_node::{NodeConfig, NodeHandle, Profile, RunOptions};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

/// No LAN, no mDNS: nodes meet only through in-memory links.
fn offline() -> NodeConfig {
    let mut config = NodeConfig::default();
    config.lan.enabled = false;
    // Tests stay off the radio.
    config.ble.enabled = false;
    config
}

fn app(dir: &std::path::Path) -> Harness<'static, CairnApp> {
    let app = CairnApp::new(Profile::at(dir.join("alice")), offline()).unwrap();
    Harness::builder()
        .with_size(egui::vec2(1000.0, 700.0))
        .build_ui_state(|ui, app: &mut CairnApp| app.ui(ui), app)
}

fn type_into(h: &mut Harness<'_, CairnApp>, label: &str, text: &str) {
    type_as(h, Role::TextInput, label, text);
}

fn type_as(h: &mut Harness<'_, CairnApp>, role: Role, label: &str, text: &str) {
    h.get_by_role_and_label(role, label).focus();
    h.run_steps(2);
    h.get_by_role_and_label(role, label).type_text(text);
    h.run_steps(2);
}

fn click(h: &mut Harness<'_, CairnApp>, label: &str) {
    h.get_by_label(label).click();
    h.run_steps(3);
}

fn onboard(h: &mut Harness<'_, CairnApp>) {
    h.run_steps(2);
    type_into(h, "Your name", "alice");
    type_as(h, Role::PasswordInput, "Passphrase", "correct horse");
    type_as(h, Role::PasswordInput, "Repeat passphrase", "correct horse");
    click(h, "Create my profile");
}

/// Steps the app until `f` holds (the node works on its own threads).
fn wait(
    h: &mut Harness<'_, CairnApp>,
    what: &str,
    mut f: impl FnMut(&Harness<'_, CairnApp>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        h.run_steps(2);
        if f(h) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

/// Bob writes `text` to alice; alice's window shows it twice: in the open
/// conversation and as the chat's last message in the list.
fn bob_writes(
    h: &mut Harness<'_, CairnApp>,
    rt: &tokio::runtime::Handle,
    bob: &NodeHandle,
    text: &str,
) {
    rt.block_on(bob.call(Request::Send {
        contact: "alice".into(),
        text: text.into(),
    }))
    .unwrap();
    wait(h, &format!("bob's {text:?} on screen"), |h| {
        h.query_all_by_label(text).count() == 2
    });
}

/// Waits until `node`'s conversation with `contact` holds a message for
/// which `f` holds (asking the node itself, not the window).
fn wait_node(
    rt: &tokio::runtime::Handle,
    node: &NodeHandle,
    contact: &str,
    what: &str,
    f: impl Fn(&cairn_node::api::MessageInfo) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if messages_of(rt, node, contact).iter().any(&f) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `node`'s conversation with `contact`, as its node stores it.
fn messages_of(
    rt: &tokio::runtime::Handle,
    node: &NodeHandle,
    contact: &str,
) -> Vec<cairn_node::api::MessageInfo> {
    let Reply::Messages { messages, .. } = rt
        .block_on(node.call(Request::Messages {
            contact: contact.into(),
            limit: None,
        }))
        .unwrap()
    else {
        panic!()
    };
    messages
}

/// Bob: a second node in the same process, on the app's runtime.
fn bob(h: &Harness<'_, CairnApp>, dir: &std::path::Path) -> NodeHandle {
    node_named(h, dir, "bob")
}

fn node_named(h: &Harness<'_, CairnApp>, dir: &std::path::Path, name: &str) -> NodeHandle {
    node_with(h, dir, name, offline())
}

fn node_with(
    h: &Harness<'_, CairnApp>,
    dir: &std::path::Path,
    name: &str,
    config: NodeConfig,
) -> NodeHandle {
    let app = h.state();
    let profile = Profile::at(dir.join(name));
    let opened = profile.create(name, b"").unwrap();
    let (node, _task) = app
        .runtime()
        .block_on(cairn_node::runtime::start(
            &profile,
            opened,
            RunOptions {
                config,
                control_socket: false,
            },
        ))
        .unwrap();
    node
}

#[test]
fn onboarding_creates_a_profile_and_opens_the_chats() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = app(dir.path());
    assert!(h.query_by_label("Welcome to Cairn").is_some());
    // Without a passphrase the user is warned.
    assert!(
        h.query_by_label_contains("anyone with this computer's files")
            .is_some()
    );
    onboard(&mut h);
    assert!(h.query_by_label("Cairn — alice").is_some());
    assert!(h.query_by_label_contains("No contacts yet").is_some());
    assert!(dir.path().join("alice/cairn.redb").exists());
}

/// Alice in the window, bob in the same process; alice adds bob through the
/// window, bob adds alice, and an in-memory link joins them.
fn pair(
    dir: &std::path::Path,
) -> (
    Harness<'static, CairnApp>,
    NodeHandle,
    tokio::runtime::Handle,
) {
    let mut h = app(dir);
    onboard(&mut h);
    let bob = bob(&h, dir);
    let rt = h.state().runtime();
    let alice = h.state().node().unwrap().clone();
    befriend_through_window(&mut h, &rt, &alice, &bob);
    (h, bob, rt)
}

/// Alice (the window's node) adds bob by pasting his invite in the window;
/// bob adds alice behind the scenes; a memory link joins them.
fn befriend_through_window(
    h: &mut Harness<'_, CairnApp>,
    rt: &tokio::runtime::Handle,
    alice: &NodeHandle,
    bob: &NodeHandle,
) {
    let Reply::Invite { uri } = rt.block_on(bob.call(Request::Invite)).unwrap() else {
        panic!()
    };
    let Reply::Status(them) = rt.block_on(bob.call(Request::Status)).unwrap() else {
        panic!()
    };
    // The tab opens on the click, once the main screen is up (the profile
    // is created and the node started off the window's thread).
    let deadline = Instant::now() + Duration::from_secs(30);
    while h.query_by_label_contains("Show them your code").is_none() {
        assert!(Instant::now() < deadline, "\"Add contact\" never opened");
        if h.query_by_label("Add contact").is_some() {
            click(h, "Add contact");
        } else {
            std::thread::sleep(Duration::from_millis(100));
            h.run_steps(2);
        }
    }
    type_as(h, Role::MultilineTextInput, "Their invite", &uri);
    click(h, "Add");
    wait(h, "them in the chat list", |h| {
        h.query_by_label_contains(&them.name).is_some()
    });
    let Reply::Invite { uri: alice_uri } = rt.block_on(alice.call(Request::Invite)).unwrap() else {
        panic!()
    };
    rt.block_on(bob.call(Request::Add {
        invite: alice_uri,
        alias: None,
    }))
    .unwrap();
    rt.block_on(alice.connect_memory(bob, 1 << 17));
}

#[test]
fn adding_a_contact_sending_and_verifying() {
    let dir = tempfile::tempdir().unwrap();
    let (mut h, bob, rt) = pair(dir.path());
    h.get_by_label_contains("bob").click();
    h.run_steps(3);
    type_into(&mut h, "Message", "hello from the window");
    click(&mut h, "Send");
    // Bob's node stores it ...
    wait_node(&rt, &bob, "alice", "bob to receive it", |m| {
        m.text == "hello from the window"
    });
    // ... the chat list shows it as the last message ...
    wait(&mut h, "the preview in the chat list", |h| {
        h.query_by_label("You: hello from the window").is_some()
    });
    // ... and alice's window shows it delivered.
    wait(&mut h, "the delivered state", |h| {
        h.query_by_label("hello from the window").is_some()
            && h.query_by_label("delivered").is_some()
    });
    // With the time it was written (this minute or the one before).
    let now = chrono::Local::now();
    let minutes = [now, now - chrono::Duration::minutes(1)].map(|t| t.format("%H:%M").to_string());
    assert!(
        minutes.iter().any(|m| h.query_by_label(m).is_some()),
        "no timestamp {minutes:?} beside the message"
    );
    // Bob answers; it shows in the conversation and, as the last message,
    // in the chat list.
    bob_writes(&mut h, &rt, &bob, "hi alice");
    // The chat is open, so alice has read it: bob's node learns so.
    wait_node(&rt, &bob, "alice", "bob to see his answer read", |m| {
        m.text == "hi alice" && m.state == "read"
    });

    // Verify: the safety number on screen is bob's and alice's, 60 digits.
    click(&mut h, "Verify");
    let Reply::Safety(s) = rt
        .block_on(bob.call(Request::Verify {
            contact: "alice".into(),
            confirm: false,
        }))
        .unwrap()
    else {
        panic!()
    };
    assert!(
        h.query_by_label(&s.safety_number).is_some(),
        "the same number bob sees"
    );
    click(&mut h, "They match: mark as verified");
    wait(&mut h, "verified", |h| {
        h.query_by_label("Verified").is_some()
    });
}

#[test]
fn creating_a_group_adding_a_member_and_writing_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut h, bob, rt) = pair(dir.path());
    click(&mut h, "Groups");
    type_into(&mut h, "New group name", "walkers");
    click(&mut h, "Create group");
    wait(&mut h, "the new group", |h| {
        h.query_by_label("walkers (1 member)").is_some()
    });
    click(&mut h, "Add bob");
    wait(&mut h, "bob in the group", |h| {
        h.query_by_label("walkers (2 members)").is_some()
            && h.query_by_label("bob (member)").is_some()
    });
    type_into(&mut h, "Group message", "meet at six");
    click(&mut h, "Send to group");
    wait(&mut h, "the message on screen", |h| {
        h.query_by_label("meet at six").is_some()
    });
    // It reaches bob's node.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = rt.block_on(bob.call(Request::GroupMessages {
            group: "walkers".into(),
            limit: None,
        }));
        if let Ok(Reply::GroupMessages { messages, .. }) = got
            && messages.iter().any(|m| m.text == "meet at six")
        {
            break;
        }
        assert!(Instant::now() < deadline, "bob never got the group message");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Roles: bob is made admin; bob's node sees it. Alice, no longer the
    // only admin, steps down; then only bob may change roles.
    click(&mut h, "Make bob admin");
    wait(&mut h, "bob as admin", |h| {
        h.query_by_label("bob (admin)").is_some()
    });
    let bob_role = |role: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Reply::GroupMembers { members, .. }) =
                rt.block_on(bob.call(Request::GroupMembers {
                    group: "walkers".into(),
                }))
                && members.iter().any(|m| m.name == "bob" && m.role == role)
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    };
    assert!(bob_role("admin"), "bob's node never saw him made admin");
    click(&mut h, "Make alice a member");
    wait(&mut h, "alice as a member, without admin buttons", |h| {
        h.query_by_label("alice (member)").is_some()
            && h.query_by_label("Make bob a member").is_none()
            && h.query_by_label("Remove bob").is_none()
    });
    // The network panel shows the in-process link.
    click(&mut h, "Network");
    wait(&mut h, "the link count", |h| {
        h.query_by_label("1 link").is_some()
    });
    // Tests keep the radio off, and the panel says so.
    assert!(h.query_by_label("Bluetooth: off").is_some());
}

#[test]
fn a_member_removed_by_an_admin_is_told_so_and_offered_no_composer() {
    let dir = tempfile::tempdir().unwrap();
    let (mut h, bob, rt) = pair(dir.path());
    let Reply::Status(me) = rt
        .block_on(h.state().node().unwrap().call(Request::Status))
        .unwrap()
    else {
        panic!()
    };
    rt.block_on(bob.call(Request::GroupCreate {
        name: "walkers".into(),
    }))
    .unwrap();
    rt.block_on(bob.call(Request::GroupAdd {
        group: "walkers".into(),
        contact: me.id.clone(),
    }))
    .unwrap();
    click(&mut h, "Groups");
    wait(&mut h, "bob's group", |h| {
        h.query_by_label("walkers (2 members)").is_some()
    });
    click(&mut h, "walkers (2 members)");
    wait(&mut h, "the composer", |h| {
        h.query_by_label("Send to group").is_some()
    });
    rt.block_on(bob.call(Request::GroupRemove {
        group: "walkers".into(),
        member: me.id.clone(),
    }))
    .unwrap();
    wait(&mut h, "the removal, said", |h| {
        h.query_by_label_contains("You were removed from this group")
            .is_some()
            && h.query_by_label("Send to group").is_none()
            && h.query_by_label("walkers (1 member)").is_some()
    });
}

/// Writes `text` as a QR code into a PNG, as a phone screenshot would hold it.
fn qr_png(text: &str, path: &std::path::Path) {
    let code = qrcode::QrCode::new(text.as_bytes()).unwrap();
    let width = code.width();
    let (scale, quiet) = (6, 4);
    let side = ((width + 2 * quiet) * scale) as u32;
    let colors = code.to_colors();
    let img = image::GrayImage::from_fn(side, side, |x, y| {
        let (mx, my) = (x as usize / scale, y as usize / scale);
        let dark = (quiet..quiet + width).contains(&mx)
            && (quiet..quiet + width).contains(&my)
            && colors[(my - quiet) * width + (mx - quiet)] == qrcode::Color::Dark;
        image::Luma([if dark { 0 } else { 255 }])
    });
    img.save(path).unwrap();
}

#[test]
fn adding_a_contact_from_a_picture_of_their_qr_code() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = app(dir.path());
    onboard(&mut h);
    let bob = bob(&h, dir.path());
    let rt = h.state().runtime();
    let Reply::Invite { uri } = rt.block_on(bob.call(Request::Invite)).unwrap() else {
        panic!()
    };
    click(&mut h, "Add contact");
    // A picture without a QR code: a clear error, nothing added.
    let blank = dir.path().join("blank.png");
    image::GrayImage::from_pixel(200, 200, image::Luma([255]))
        .save(&blank)
        .unwrap();
    type_into(&mut h, "Invite image file", blank.to_str().unwrap());
    click(&mut h, "Open image");
    assert!(h.query_by_label_contains("no QR code found").is_some());
    // A picture of bob's code (upper case, as the app itself draws codes).
    let picture = dir.path().join("bob-invite.png");
    qr_png(&uri.to_ascii_uppercase(), &picture);
    click(&mut h, "Dismiss");
    h.get_by_role_and_label(Role::TextInput, "Invite image file")
        .focus();
    h.run_steps(2);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.run_steps(1);
    h.get_by_role_and_label(Role::TextInput, "Invite image file")
        .type_text(picture.to_str().unwrap());
    h.run_steps(2);
    click(&mut h, "Open image");
    wait(&mut h, "bob in the chat list", |h| {
        h.query_by_label_contains("bob").is_some()
    });
}

#[test]
fn the_theme_can_be_switched_between_light_and_dark() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = app(dir.path());
    onboard(&mut h);
    for (choice, theme) in [("Dark", egui::Theme::Dark), ("Light", egui::Theme::Light)] {
        h.get_by_role_and_label(Role::ComboBox, "Theme:").click();
        h.run_steps(3);
        click(&mut h, choice);
        assert_eq!(h.ctx.theme(), theme);
    }
}

#[test]
fn unread_counts_in_the_chat_list_clear_when_the_chat_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    let (mut h, _bob, rt) = pair(dir.path());
    // Carol: a second contact, added and linked behind the window's back.
    let carol = node_named(&h, dir.path(), "carol");
    let alice = h.state().node().unwrap().clone();
    for (a, b) in [(&alice, &carol), (&carol, &alice)] {
        let Reply::Invite { uri } = rt.block_on(b.call(Request::Invite)).unwrap() else {
            panic!()
        };
        rt.block_on(a.call(Request::Add {
            invite: uri,
            alias: None,
        }))
        .unwrap();
    }
    rt.block_on(alice.connect_memory(&carol, 1 << 17));
    for text in ["psst", "are you there?"] {
        rt.block_on(carol.call(Request::Send {
            contact: "alice".into(),
            text: text.into(),
        }))
        .unwrap();
    }
    // Bob's chat is the open one: carol's shows two unread and her last line.
    wait(&mut h, "carol's unread count", |h| {
        h.query_by_label_contains("2 unread").is_some()
            && h.query_by_label("are you there?").is_some()
    });
    // From the keyboard: Ctrl+3 opens "Add contact", Ctrl+Down the next
    // chat (carol's), which clears her count.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Num3);
    h.run_steps(3);
    assert!(h.query_by_label("Add a contact").is_some());
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::ArrowDown);
    h.run_steps(3);
    wait(&mut h, "the count to clear", |h| {
        h.query_by_label_contains("unread").is_none()
    });
    wait_node(&rt, &carol, "alice", "carol to see her message read", |m| {
        m.text == "are you there?" && m.state == "read"
    });
}

#[test]
fn the_window_attaches_to_a_node_already_running_on_the_profile() {
    let dir = tempfile::tempdir().unwrap();
    // `cairn run` stand-in: alice's node with its control socket, and bob,
    // on a runtime of their own.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let start = |name: &str, socket: bool| {
        let profile = Profile::at(dir.path().join(name));
        let opened = profile.create(name, b"").unwrap();
        let options = RunOptions {
            config: offline(),
            control_socket: socket,
        };
        rt.block_on(cairn_node::runtime::start(&profile, opened, options))
            .unwrap()
            .0
    };
    let alice = start("alice", true);
    let bob = start("bob", false);

    // The window finds alice's node and needs no passphrase.
    let mut app = CairnApp::new(Profile::at(dir.path().join("alice")), offline()).unwrap();
    assert!(app.attach_if_running());
    let mut h = Harness::builder()
        .with_size(egui::vec2(1000.0, 700.0))
        .build_ui_state(|ui, app: &mut CairnApp| app.ui(ui), app);
    h.run_steps(3);
    assert!(h.query_by_label("Cairn — alice").is_some());
    befriend_through_window(&mut h, rt.handle(), &alice, &bob);
    type_into(&mut h, "Message", "through the socket");
    click(&mut h, "Send");
    wait_node(rt.handle(), &bob, "alice", "bob to receive it", |m| {
        m.text == "through the socket"
    });
    wait(&mut h, "the delivered state", |h| {
        h.query_by_label("delivered").is_some()
    });
    // What bob writes shows up while attached (the node's watch stream):
    // in the conversation and as the chat's last message.
    bob_writes(&mut h, rt.handle(), &bob, "live from bob");
}

/// A gateway node in the same process. It has no XMPP server to attach to
/// (it keeps trying); what the window shows does not need one.
fn gateway_node(h: &Harness<'_, CairnApp>, dir: &std::path::Path) -> NodeHandle {
    let mut config = offline();
    config.gateway.enabled = true;
    config.gateway.domain = "cairn.test".into();
    config.gateway.secret = Some("unused".into());
    config.gateway.server = "127.0.0.1:9".into();
    node_with(h, dir, "gateway", config)
}

#[test]
fn bridged_chats_and_groups_are_marked_only_as_private_as_xmpp() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = app(dir.path());
    onboard(&mut h);
    let rt = h.state().runtime();
    let alice = h.state().node().unwrap().clone();
    let gateway = gateway_node(&h, dir.path());
    befriend_through_window(&mut h, &rt, &alice, &gateway);
    rt.block_on(alice.call(Request::BridgeJoin {
        gateway: "gateway".into(),
        alias: "alice".into(),
    }))
    .unwrap();
    rt.block_on(alice.call(Request::BridgeAdd {
        jid: "juliet@example.org".into(),
        via: None,
        name: None,
    }))
    .unwrap();
    wait(&mut h, "juliet marked as on XMPP", |h| {
        h.query_by_label("juliet (XMPP)").is_some()
    });
    click(&mut h, "juliet (XMPP)");
    assert!(
        h.query_by_label_contains("Bridged to XMPP through gateway: only as private as XMPP")
            .is_some()
    );

    // A group the gateway is brought into is marked, and XMPP contacts
    // cannot be added to groups.
    click(&mut h, "Groups");
    type_into(&mut h, "New group name", "walkers");
    click(&mut h, "Create group");
    wait(&mut h, "the new group", |h| {
        h.query_by_label("walkers (1 member)").is_some()
    });
    assert!(h.query_by_label("Add juliet").is_none());
    click(&mut h, "Add gateway");
    wait(&mut h, "the group marked bridged", |h| {
        h.query_by_label("walkers (2 members) (bridged to XMPP)")
            .is_some()
            && h.query_by_label_contains("Bridged to XMPP as walkers@cairn.test")
                .is_some()
    });
}

#[test]
fn sending_a_file_from_the_window_and_seeing_a_picture_inline() {
    let dir = tempfile::tempdir().unwrap();
    let (mut h, bob, rt) = pair(dir.path());
    h.get_by_label_contains("bob").click();
    h.run_steps(3);
    // A file from the window: bob's node gets it whole.
    let notes = dir.path().join("notes.bin");
    let data: Vec<u8> = (0..300 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&notes, &data).unwrap();
    type_into(&mut h, "File to send", notes.to_str().unwrap());
    click(&mut h, "Send file");
    wait(&mut h, "the file in the conversation", |h| {
        h.query_by_label("notes.bin (300.0 KiB)").is_some()
    });
    wait_node(&rt, &bob, "alice", "bob to have all of it", |m| {
        m.file.as_ref().is_some_and(|f| f.state == "complete")
    });
    wait(&mut h, "alice's window to show it sent", |h| {
        h.query_by_label("sent").is_some()
    });
    let messages = messages_of(&rt, &bob, "alice");
    let saved = dir.path().join("bob-saved.bin");
    rt.block_on(bob.call(Request::SaveFile {
        contact: "alice".into(),
        id: messages[0].id.clone(),
        path: saved.to_str().unwrap().into(),
    }))
    .unwrap();
    assert!(std::fs::read(&saved).unwrap() == data, "intact");

    // Bob sends a picture: it shows in alice's window.
    let picture = dir.path().join("red.png");
    image::RgbImage::from_pixel(64, 48, image::Rgb([200, 30, 30]))
        .save(&picture)
        .unwrap();
    rt.block_on(bob.call(Request::SendFile {
        contact: "alice".into(),
        path: picture.to_str().unwrap().into(),
    }))
    .unwrap();
    wait(&mut h, "the picture inline", |h| {
        h.query_by_label("Picture red.png").is_some()
    });
    assert!(h.query_by_label("Save red.png").is_some());
}

/// Texts in the scripts Cairn's users write most (the "every language"
/// issue): each must reach the window whole and be drawable. The harness
/// panics on a glyph no font has, so this also proves the system's fonts
/// are found for each script.
const SCRIPTS: [&str; 6] = [
    "سلام، فردا ساعت شش در میدان می‌بینمت",
    "مرحبا، نلتقي غدًا في الساعة السادسة",
    "မင်္ဂလာပါ မနက်ဖြန် တွေ့မယ်",
    "नमस्ते, कल छह बजे मिलते हैं",
    "你好，明天六点在广场见",
    "Привет 😀🎉 до завтра",
];

#[test]
fn messages_in_every_script_reach_the_window_and_the_chat_list() {
    let dir = tempfile::tempdir().unwrap();
    let (mut h, bob, rt) = pair(dir.path());
    h.get_by_label_contains("bob").click();
    h.run_steps(3);
    for text in SCRIPTS {
        // In the conversation and, as the last message, in the chat list.
        bob_writes(&mut h, &rt, &bob, text);
    }
}

#[test]
fn the_composer_sends_mixed_persian_and_english_exactly_as_typed() {
    let dir = tempfile::tempdir().unwrap();
    let (mut h, bob, rt) = pair(dir.path());
    h.get_by_label_contains("bob").click();
    h.run_steps(3);
    macro_rules! field {
        ($h:expr) => {
            $h.get_by_role_and_label(Role::TextInput, "Message")
        };
    }
    field!(h).focus();
    h.run_steps(2);
    field!(h).type_text("سلام دنیا");
    h.run_steps(1);
    // The caret is at the end, inside a right-to-left word: Right moves it
    // back through the text (visually right), four letters to before "دنیا".
    for _ in 0..4 {
        h.key_press(egui::Key::ArrowRight);
        h.run_steps(1);
    }
    field!(h).type_text("Cairn ");
    h.run_steps(1);
    h.key_press(egui::Key::End);
    field!(h).type_text(" 2024 ۱۴۰۴");
    h.run_steps(1);
    // Backspace takes one character: the last digit, then it is retyped.
    h.key_press(egui::Key::Backspace);
    h.run_steps(1);
    field!(h).type_text("۳!");
    h.run_steps(1);
    let want = "سلام Cairn دنیا 2024 ۱۴۰۳!";
    assert_eq!(field!(h).value().as_deref(), Some(want));
    // Shift+Home selects back to the start; typing replaces the selection,
    // which is then undone by selecting again and typing the line back.
    h.key_press_modifiers(egui::Modifiers::SHIFT, egui::Key::Home);
    h.run_steps(1);
    field!(h).type_text("x");
    h.run_steps(1);
    assert_eq!(field!(h).value().as_deref(), Some("x"));
    h.key_press(egui::Key::Backspace);
    field!(h).type_text(want);
    h.run_steps(1);
    h.key_press(egui::Key::Enter);
    h.run_steps(3);
    wait_node(&rt, &bob, "alice", "bob to receive the line", |m| {
        m.text == want
    });
    // Exactly that string, once.
    let messages = messages_of(&rt, &bob, "alice");
    assert_eq!(messages.iter().filter(|m| m.text == want).count(), 1);
    assert_eq!(messages.len(), 1, "{messages:?}");
    wait(&mut h, "the line in alice's window", |h| {
        h.query_by_label(want).is_some()
    });
}

#[test]
fn with_the_persian_locale_the_window_is_mirrored_and_speaks_persian() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = app(dir.path());
    h.state_mut().set_language(Some("fa"));
    h.run_steps(2);
    assert!(h.query_by_label("به Cairn خوش آمدید").is_some());
    assert!(h.query_by_label("Welcome to Cairn").is_none());
    // Onboarding, in Persian.
    type_into(&mut h, "نام شما", "alice");
    type_as(&mut h, Role::PasswordInput, "گذرواژه", "correct horse");
    type_as(
        &mut h,
        Role::PasswordInput,
        "تکرار گذرواژه",
        "correct horse",
    );
    click(&mut h, "ساختن نمایه‌ی من");
    h.run_steps(3);
    // The tabs are Persian.
    for tab in ["گفتگوها", "گروه‌ها", "افزودن مخاطب", "تأیید", "شبکه"]
    {
        assert!(h.query_all_by_label(tab).next().is_some(), "no tab {tab}");
    }
    // Mirrored: the window's title sits at the right edge, the chat list
    // on the right, and the tabs run leftwards from the title.
    let width = 1000.0;
    let title = h.get_by_label("Cairn — alice").rect();
    assert!(title.max.x > width - 40.0, "title at {title:?}");
    let empty = h.get_by_label_contains("هنوز مخاطبی ندارید").rect();
    assert!(empty.min.x > width / 2.0, "chat list at {empty:?}");
    let network = h.get_by_label("شبکه").rect();
    assert!(network.max.x < title.min.x, "tabs at {network:?}");
    // A contact named in Persian appears in the (right-hand) chat list.
    let bahram = node_named(&h, dir.path(), "بهرام");
    let rt = h.state().runtime();
    let alice = h.state().node().unwrap().clone();
    let Reply::Invite { uri } = rt.block_on(bahram.call(Request::Invite)).unwrap() else {
        panic!()
    };
    rt.block_on(alice.call(Request::Add {
        invite: uri,
        alias: None,
    }))
    .unwrap();
    wait(&mut h, "بهرام in the chat list", |h| {
        h.query_by_label_contains("بهرام").is_some()
    });
    let entry = h.get_by_label_contains("بهرام").rect();
    assert!(entry.min.x > width / 2.0, "entry at {entry:?}");

    // And back to English: the same window, not mirrored.
    h.state_mut().set_language(Some("en-US"));
    h.run_steps(3);
    let title = h.get_by_label("Cairn — alice").rect();
    assert!(title.min.x < 40.0, "title at {title:?}");
    // The tab and the chat list's heading.
    assert_eq!(h.query_all_by_label("Chats").count(), 2);
}

/// Profile → Back up… writes a backup through the node; a new window on an
/// empty profile brings it back from the first screen, and opens on it.
#[test]
fn backing_up_from_the_menu_and_restoring_on_the_first_screen() {
    let dir = tempfile::tempdir().unwrap();
    let (mut h, _bob, rt) = pair(dir.path());
    let alice = h.state().node().unwrap().clone();
    rt.block_on(alice.call(Request::GroupCreate {
        name: "walkers".into(),
    }))
    .unwrap();
    click(&mut h, "Profile");
    click(&mut h, "Back up…");
    assert!(h.query_by_label("Back up this profile").is_some());
    let file = dir.path().join("alice.backup");
    type_into(&mut h, "Backup file", file.to_str().unwrap());
    type_as(
        &mut h,
        Role::PasswordInput,
        "Backup passphrase",
        "backup pass",
    );
    type_as(
        &mut h,
        Role::PasswordInput,
        "Repeat passphrase",
        "backup pass",
    );
    click(&mut h, "Write the backup");
    wait(&mut h, "the backup to be written", |h| {
        h.query_by_label_contains("contacts: 1, messages: 0, groups: 1")
            .is_some()
    });
    assert!(file.exists());
    drop(h);

    let other = tempfile::tempdir().unwrap();
    let app = CairnApp::new(Profile::at(other.path().join("alice")), offline()).unwrap();
    let mut h = Harness::builder()
        .with_size(egui::vec2(1000.0, 800.0))
        .build_ui_state(|ui, app: &mut CairnApp| app.ui(ui), app);
    h.run_steps(2);
    assert!(
        h.query_by_label("Or bring back a profile from a backup")
            .is_some()
    );
    type_as(&mut h, Role::PasswordInput, "Passphrase", "new device pass");
    type_as(
        &mut h,
        Role::PasswordInput,
        "Repeat passphrase",
        "new device pass",
    );
    type_into(&mut h, "Backup file", file.to_str().unwrap());
    type_as(&mut h, Role::PasswordInput, "Backup passphrase", "wrong");
    click(&mut h, "Restore");
    assert!(
        h.query_by_label_contains("wrong passphrase for this backup")
            .is_some()
    );
    assert!(!other.path().join("alice/cairn.redb").exists());
    // The wrong passphrase was cleared from its field.
    type_as(
        &mut h,
        Role::PasswordInput,
        "Backup passphrase",
        "backup pass",
    );
    click(&mut h, "Restore");
    wait(&mut h, "the restored profile to open", |h| {
        h.query_by_label("Cairn — alice").is_some()
    });
    wait(&mut h, "bob in the chat list", |h| {
        h.query_by_label_contains("bob").is_some()
    });
    assert!(other.path().join("alice/cairn.redb").exists());
}

/// Profile → Devices…: a link code (and its QR code) in alice's window; a
/// second window links itself with it on its first screen; both list the
/// two devices; alice revokes the new one.
#[test]
fn linking_a_device_between_two_windows_and_revoking_it() {
    use egui_kittest::kittest::NodeT;
    let dir = tempfile::tempdir().unwrap();
    let mut h = app(dir.path());
    onboard(&mut h);
    click(&mut h, "Profile");
    click(&mut h, "Devices…");
    wait(&mut h, "alice's device list", |h| {
        h.query_by_label("alice (this device)").is_some()
    });
    click(&mut h, "Link a new device");
    let code = h
        .get_by_role_and_label(Role::TextInput, "Link code")
        .accesskit_node()
        .value()
        .unwrap();
    assert!(code.starts_with("cairn:link:"), "{code}");

    let app2 = CairnApp::new(Profile::at(dir.path().join("phone")), offline()).unwrap();
    let mut phone = Harness::builder()
        .with_size(egui::vec2(1000.0, 900.0))
        .build_ui_state(|ui, app: &mut CairnApp| app.ui(ui), app2);
    phone.run_steps(2);
    assert!(
        phone
            .query_by_label("Or link this device to your profile on another device")
            .is_some()
    );
    type_as(&mut phone, Role::PasswordInput, "Passphrase", "phone pass");
    type_as(
        &mut phone,
        Role::PasswordInput,
        "Repeat passphrase",
        "phone pass",
    );
    // A code that is not one is refused before anything is made.
    type_into(&mut phone, "Link code", "cairn:nonsense");
    click(&mut phone, "Link this device");
    assert!(phone.query_by_label_contains("not a link code").is_some());
    assert!(!dir.path().join("phone/cairn.redb").exists());
    // The field was emptied for the right code.
    type_into(&mut phone, "Link code", &code);
    click(&mut phone, "Link this device");
    let alice_node = h.state().node().unwrap().clone();
    let phone_node = phone.state().node().expect("the phone's node runs").clone();
    let rt = h.state().runtime();
    rt.block_on(alice_node.connect_memory(&phone_node, 1 << 17));
    wait(&mut phone, "the phone to be linked", |h| {
        h.query_by_label("new device (this device)").is_some()
            && h.query_by_label("alice").is_some()
    });
    wait(&mut h, "alice to list the phone", |h| {
        h.query_by_label("new device").is_some()
    });
    click(&mut h, "Revoke");
    wait(&mut h, "the revocation", |h| {
        h.query_by_label("Revoked devices: 1").is_some() && h.query_by_label("new device").is_none()
    });
}

/// Alice's window: the menu of her first message ("⋯"), then `item`. The
/// menu is opened (again, if a reload of the chat closed it) until `item`
/// shows.
fn message_menu(h: &mut Harness<'_, CairnApp>, item: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !shows(h, item) {
        assert!(Instant::now() < deadline, "the menu never showed {item:?}");
        h.query_all_by_label("⋯").next().unwrap().click();
        h.run_steps(3);
        if !shows(h, item) {
            std::thread::sleep(Duration::from_millis(100));
            h.run_steps(2);
        }
    }
    click(h, item);
}

#[test]
fn replying_reacting_editing_deleting_and_disappearing_from_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let (mut h, bob, rt) = pair(dir.path());
    h.get_by_label_contains("bob").click();
    h.run_steps(3);
    type_into(&mut h, "Message", "meet at the mill");
    click(&mut h, "Send");
    wait_node(&rt, &bob, "alice", "bob to receive it", |m| {
        m.text == "meet at the mill"
    });
    let id = messages_of(&rt, &bob, "alice")[0].id.clone();

    // Bob replies and reacts (from his node); the window shows both.
    for (op, text) in [("reply", "which mill?"), ("react", "👍")] {
        rt.block_on(bob.call(Request::MessageOp {
            contact: "alice".into(),
            id: id.clone(),
            op: op.into(),
            text: text.into(),
        }))
        .unwrap();
    }
    wait(&mut h, "bob's reply quoting alice and his reaction", |h| {
        shows(h, "↪ meet at the mill") && shows(h, "which mill?") && shows(h, "👍")
    });

    // Alice replies from the message's menu.
    message_menu(&mut h, "Reply");
    assert!(shows(&h, "Replying to: meet at the mill"));
    type_into(&mut h, "Message", "the old one");
    click(&mut h, "Send");
    wait_node(&rt, &bob, "alice", "alice's reply", |m| {
        m.text == "the old one" && m.reply_to.as_deref() == Some(id.as_str())
    });

    // She reacts with a heart.
    message_menu(&mut h, "❤️");
    wait_node(&rt, &bob, "alice", "alice's reaction", |m| {
        m.id == id && m.reactions.iter().any(|r| r.by == "in" && r.emoji == "❤️")
    });

    // She edits it: the composer holds the text; what she types is added.
    message_menu(&mut h, "Edit");
    assert!(shows(&h, "Editing your message"));
    type_into(&mut h, "Message", " at six");
    click(&mut h, "Send");
    wait_node(&rt, &bob, "alice", "the edit", |m| {
        m.id == id && m.text == "meet at the mill at six" && m.edited
    });
    wait(&mut h, "the edit on screen", |h| {
        shows(h, "meet at the mill at six") && shows(h, "(edited)")
    });

    // She deletes it for everyone.
    message_menu(&mut h, "Delete for everyone");
    wait_node(&rt, &bob, "alice", "the deletion", |m| {
        m.id == id && m.deleted && m.text.is_empty()
    });
    wait(&mut h, "the deletion on screen", |h| {
        shows(h, "This message was deleted") && !shows(h, "meet at the mill at six")
    });

    // And makes the chat's messages disappear after five minutes.
    h.get_by_role_and_label(Role::ComboBox, "Disappearing messages")
        .click();
    h.run_steps(3);
    click(&mut h, "5m");
    wait(&mut h, "the timer line", |h| {
        shows(h, "Messages disappear 5m after they arrive")
    });
    let Reply::Contacts { contacts } = rt.block_on(bob.call(Request::Contacts)).unwrap() else {
        panic!()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !contacts_timer(&rt, &bob, 300) {
        assert!(
            Instant::now() < deadline,
            "bob never took the timer: {contacts:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn contacts_timer(rt: &tokio::runtime::Handle, node: &NodeHandle, secs: u64) -> bool {
    let Reply::Contacts { contacts } = rt.block_on(node.call(Request::Contacts)).unwrap() else {
        panic!()
    };
    contacts.iter().any(|c| c.disappear_after == Some(secs))
}

/// Whether the window shows `label` (once or more: a chat's last message is
/// also its preview in the list).
fn shows(h: &Harness<'_, CairnApp>, label: &str) -> bool {
    h.query_all_by_label(label).next().is_some()
}

/// Speech-like sound: a 200 Hz voice with harmonics, its loudness rising
/// and falling like syllables, at the voice-note rate.
fn speechlike(secs: f32) -> Vec<i16> {
    let rate = cairn_node::voice::RATE as f32;
    (0..(secs * rate) as usize)
        .map(|i| {
            let t = i as f32 / rate;
            let syllable = (t * 4.0 * std::f32::consts::PI).sin().abs();
            let voice: f32 = (1..6)
                .map(|h| (t * 200.0 * h as f32 * std::f32::consts::TAU).sin() / h as f32)
                .sum();
            (0.3 * syllable * voice * 32_767.0) as i16
        })
        .collect()
}

/// Presses the record button, holds it until a second is recorded (the
/// time and "Release to send" show), and lets go: the note is sent.
fn record(h: &mut Harness<'_, CairnApp>) {
    let at = h
        .get_by_label("Hold to record a voice note")
        .rect()
        .center();
    let press = |pressed| egui::Event::PointerButton {
        pos: at,
        button: egui::PointerButton::Primary,
        pressed,
        modifiers: egui::Modifiers::default(),
    };
    h.event(egui::Event::PointerMoved(at));
    h.event(press(true));
    wait(h, "a second recorded", |h| {
        h.query_by_label_contains("Recording 0:01").is_some()
            && h.query_by_label("Release to send").is_some()
    });
    h.event(press(false));
    h.run_steps(3);
}

/// What `node` got (asked with `request`) is what was said, for as long as
/// the button was held.
fn heard_as_said(rt: &tokio::runtime::Handle, node: &NodeHandle, request: Request, said: &[i16]) {
    use cairn_node::voice;
    let Reply::FileData { base64, .. } = rt.block_on(node.call(request)).unwrap() else {
        panic!("no file data")
    };
    let heard = voice::decode(&data_encoding::BASE64.decode(base64.as_bytes()).unwrap()).unwrap();
    let secs = heard.len() as f32 / voice::RATE as f32;
    assert!((1.0..=3.0).contains(&secs), "{secs} s recorded");
    let similarity = voice::similarity(
        &voice::envelope(&said[..heard.len()]),
        &voice::envelope(&heard),
    );
    assert!(similarity > 0.9, "envelope similarity {similarity}");
}

#[test]
fn a_voice_note_recorded_from_a_test_source_is_sent_and_played_back() {
    use cairn_node::voice;
    let dir = tempfile::tempdir().unwrap();
    let (mut h, bob, rt) = pair(dir.path());
    // The microphone is a recording, spoken in real time.
    let said = speechlike(3.0);
    h.state_mut()
        .set_audio(Box::new(cairn_node::audio::FromFile {
            wav: voice::to_wav(&said),
        }));
    h.get_by_label_contains("bob").click();
    h.run_steps(3);

    // Press and hold: the time shows while it records; let go: it is sent.
    record(&mut h);
    wait_node(&rt, &bob, "alice", "the voice note at bob's", |m| {
        m.file
            .as_ref()
            .is_some_and(|f| f.mime == voice::MIME && f.state == "complete")
    });

    // What bob got is what was said, for as long as the button was held.
    let note = messages_of(&rt, &bob, "alice")
        .into_iter()
        .find(|m| m.file.is_some())
        .unwrap();
    heard_as_said(
        &rt,
        &bob,
        Request::FileData {
            contact: "alice".into(),
            id: note.id.clone(),
            max: voice::MAX_BYTES,
        },
        &said,
    );

    // In alice's window: the note with its length; Play shows where it is
    // until the end.
    wait(&mut h, "the note in the window", |h| {
        h.query_by_label_contains("Voice note 0:0").is_some()
    });
    click(&mut h, "Play");
    assert_eq!(h.state().playing_voice(), Some(note.id.as_str()));
    wait(&mut h, "the position bar", |h| {
        h.query_by_label_contains(" / 0:0").is_some() && h.query_by_label("Stop").is_some()
    });
    wait(&mut h, "the end of the note", |h| {
        h.state().playing_voice().is_none()
    });
    assert!(h.query_by_label("Play").is_some());
}

/// Bob's node's view of the group "walkers".
fn group_messages_of(rt: &tokio::runtime::Handle, node: &NodeHandle) -> Vec<GroupMessageInfo> {
    match rt.block_on(node.call(Request::GroupMessages {
        group: "walkers".into(),
        limit: None,
    })) {
        Ok(Reply::GroupMessages { messages, .. }) => messages,
        _ => Vec::new(),
    }
}

fn wait_group(
    rt: &tokio::runtime::Handle,
    node: &NodeHandle,
    what: &str,
    f: impl Fn(&GroupMessageInfo) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !group_messages_of(rt, node).iter().any(&f) {
        assert!(
            Instant::now() < deadline,
            "waited for {what}: {:?}",
            group_messages_of(rt, node)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn replying_reacting_editing_deleting_and_a_timer_in_a_group_from_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let (mut h, bob, rt) = pair(dir.path());
    click(&mut h, "Groups");
    type_into(&mut h, "New group name", "walkers");
    click(&mut h, "Create group");
    wait(&mut h, "the new group", |h| {
        h.query_by_label("walkers (1 member)").is_some()
    });
    click(&mut h, "Add bob");
    wait(&mut h, "bob in the group", |h| {
        h.query_by_label("walkers (2 members)").is_some()
    });
    type_into(&mut h, "Group message", "meet at the mill");
    click(&mut h, "Send to group");
    wait_group(&rt, &bob, "bob to receive it", |m| {
        m.text == "meet at the mill"
    });
    let id = group_messages_of(&rt, &bob)[0].id.clone();

    // Bob replies and reacts (from his node); the window shows both.
    for (op, text) in [("reply", "which mill?"), ("react", "👍")] {
        rt.block_on(bob.call(Request::GroupOp {
            group: "walkers".into(),
            id: id.clone(),
            op: op.into(),
            text: text.into(),
        }))
        .unwrap();
    }
    wait(&mut h, "bob's reply quoting alice and his reaction", |h| {
        shows(h, "↪ meet at the mill") && shows(h, "which mill?") && shows(h, "👍")
    });

    // Alice replies from the message's menu.
    message_menu(&mut h, "Reply");
    assert!(shows(&h, "Replying to: meet at the mill"));
    type_into(&mut h, "Group message", "the old one");
    click(&mut h, "Send to group");
    wait_group(&rt, &bob, "alice's reply", |m| {
        m.text == "the old one" && m.reply_to.as_deref() == Some(id.as_str())
    });

    // She reacts with a heart: one reaction each.
    message_menu(&mut h, "❤️");
    wait_group(&rt, &bob, "alice's reaction", |m| {
        m.id == id
            && m.reactions.len() == 2
            && m.reactions.iter().any(|r| r.by != "you" && r.emoji == "❤️")
    });

    // She edits it: the composer holds the text; what she types is added.
    message_menu(&mut h, "Edit");
    assert!(shows(&h, "Editing your message"));
    type_into(&mut h, "Group message", " at six");
    click(&mut h, "Send to group");
    wait_group(&rt, &bob, "the edit", |m| {
        m.id == id && m.text == "meet at the mill at six" && m.edited
    });
    wait(&mut h, "the edit on screen", |h| {
        shows(h, "meet at the mill at six") && shows(h, "(edited)")
    });

    // She deletes it for everyone.
    message_menu(&mut h, "Delete for everyone");
    wait_group(&rt, &bob, "the deletion", |m| {
        m.id == id && m.deleted && m.text.is_empty()
    });
    wait(&mut h, "the deletion on screen", |h| {
        shows(h, "This message was deleted") && !shows(h, "meet at the mill at six")
    });

    // As the group's admin she makes posts disappear after five minutes.
    h.get_by_role_and_label(Role::ComboBox, "Disappearing messages")
        .click();
    h.run_steps(3);
    click(&mut h, "5m");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Reply::Groups { groups }) = rt.block_on(bob.call(Request::GroupList))
            && groups.iter().any(|g| g.timer == 300)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bob never took the group's timer"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_voice_note_recorded_in_a_group_reaches_a_member_plays_back_and_is_deleted() {
    use cairn_node::voice;
    let dir = tempfile::tempdir().unwrap();
    let (mut h, bob, rt) = pair(dir.path());
    let said = speechlike(3.0);
    h.state_mut()
        .set_audio(Box::new(cairn_node::audio::FromFile {
            wav: voice::to_wav(&said),
        }));
    click(&mut h, "Groups");
    type_into(&mut h, "New group name", "walkers");
    click(&mut h, "Create group");
    wait(&mut h, "the new group", |h| {
        h.query_by_label("walkers (1 member)").is_some()
    });
    click(&mut h, "Add bob");
    wait(&mut h, "bob in the group", |h| {
        h.query_by_label("walkers (2 members)").is_some()
    });

    // Press and hold the group's record button; let go: it is posted.
    record(&mut h);
    // Bob's node fetches the content from alice's and holds it whole.
    wait_group(&rt, &bob, "the voice note at bob's", |m| {
        m.file
            .as_ref()
            .is_some_and(|f| f.mime == voice::MIME && f.state == "complete")
    });
    let note = group_messages_of(&rt, &bob)
        .into_iter()
        .find(|m| m.file.is_some())
        .unwrap();
    heard_as_said(
        &rt,
        &bob,
        Request::GroupFileData {
            group: "walkers".into(),
            id: note.id.clone(),
            max: voice::MAX_BYTES,
        },
        &said,
    );

    // In the group's window: the note with its length, played to the end.
    wait(&mut h, "the note in the window", |h| {
        h.query_by_label_contains("Voice note 0:0").is_some()
    });
    click(&mut h, "Play");
    assert_eq!(h.state().playing_voice(), Some(note.id.as_str()));
    wait(&mut h, "the end of the note", |h| {
        h.state().playing_voice().is_none()
    });

    // Files are not edited; alice deletes it for everyone from its menu.
    message_menu(&mut h, "Delete for everyone");
    wait_group(&rt, &bob, "the deletion", |m| {
        m.id == note.id && m.deleted && m.file.is_none()
    });
    wait(&mut h, "the deletion on screen", |h| {
        shows(h, "This message was deleted") && h.query_by_label("Play").is_none()
    });
}
