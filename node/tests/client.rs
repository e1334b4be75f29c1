//! The one client: the same calls and notices whichever way it reaches the
//! node (docs/ARCHITECTURE.md, "The one client").

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use cairn_node::api::{ErrorKind, Notice, Reply, Request};
use cairn_node::{Client, ClientError, NodeConfig, Profile, RunOptions};

fn config() -> NodeConfig {
    let mut config = NodeConfig::default();
    config.lan.enabled = false;
    config.ble.enabled = false;
    config
}

async fn invite(client: &Client) -> String {
    match client.call(Request::Invite).await.unwrap() {
        Reply::Invite { uri } => uri,
        other => panic!("{other:?}"),
    }
}

async fn contacts(client: &Client) -> Vec<String> {
    match client.call(Request::Contacts).await.unwrap() {
        Reply::Contacts { contacts } => contacts.into_iter().map(|c| c.name).collect(),
        other => panic!("{other:?}"),
    }
}

/// Offline, a client answers from the profile and commits before it
/// answers: a node started on the profile afterwards has what it did, and
/// tells an in-process client what happens next as API notices.
#[tokio::test]
async fn offline_then_in_process_see_the_same_profile() {
    let dir = tempfile::tempdir().unwrap();
    let alice = Profile::at(dir.path().join("alice"));
    let bob = Profile::at(dir.path().join("bob"));
    let carol = Profile::at(dir.path().join("carol"));
    let bob_invite = {
        let client = Client::offline(&bob, bob.create("bob", b"").unwrap(), &config()).unwrap();
        invite(&client).await
    };
    let carol_invite = {
        let client =
            Client::offline(&carol, carol.create("carol", b"").unwrap(), &config()).unwrap();
        invite(&client).await
    };

    {
        let offline =
            Client::offline(&alice, alice.create("alice", b"").unwrap(), &config()).unwrap();
        assert!(!offline.is_attached() && offline.node().is_none());
        offline
            .call(Request::Add {
                invite: bob_invite,
                alias: None,
            })
            .await
            .unwrap();
        assert_eq!(contacts(&offline).await, vec!["bob".to_owned()]);
        // Only a running node answers these; offline says so.
        for request in [Request::Status, Request::Shutdown] {
            match offline.call(request).await {
                Err(ClientError::Api(e)) => {
                    assert_eq!(e.kind, ErrorKind::Invalid);
                    assert!(e.message.contains("cairn run"), "{}", e.message);
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(offline.notices().is_err(), "nothing to watch offline");
    }

    let options = RunOptions {
        config: config(),
        control_socket: false,
    };
    let (handle, task) = cairn_node::runtime::start(&alice, alice.open(b"").unwrap(), options)
        .await
        .unwrap();
    let client = Client::in_process(handle);
    assert!(client.node().is_some() && !client.is_attached());
    assert_eq!(contacts(&client).await, vec!["bob".to_owned()]);
    let mut notices = client.notices().unwrap();
    client
        .call(Request::Add {
            invite: carol_invite,
            alias: None,
        })
        .await
        .unwrap();
    let added = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match notices.recv().await {
                Some(Notice::ContactAdded { peer }) => return peer,
                Some(_) => continue,
                None => panic!("the notices ended"),
            }
        }
    })
    .await
    .expect("a ContactAdded notice");
    let mut names = contacts(&client).await;
    names.sort();
    assert_eq!(names, vec!["bob".to_owned(), "carol".to_owned()]);
    match client.call(Request::Contacts).await.unwrap() {
        Reply::Contacts { contacts } => {
            assert!(contacts.iter().any(|c| c.id == added && c.name == "carol"));
        }
        other => panic!("{other:?}"),
    }
    client.call(Request::Shutdown).await.unwrap();
    drop(client);
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the node stops")
        .unwrap();
}

/// Attached to a profile no node runs on, a call says so as the control
/// socket's `NotRunning` (which the CLI takes as "go offline").
#[tokio::test]
async fn attached_to_nothing_says_no_node_runs() {
    let dir = tempfile::tempdir().unwrap();
    let profile = Profile::at(dir.path().join("nobody"));
    let client = Client::attach(&profile);
    assert!(client.is_attached());
    match client.call(Request::Status).await {
        Err(ClientError::Control(cairn_node::control::ControlError::NotRunning)) => {}
        other => panic!("{other:?}"),
    }
}
