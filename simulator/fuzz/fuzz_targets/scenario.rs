//! A scenario file: parsing and checking never panics, and what passes the
//! checks builds a world (a tiny one: the node count is capped here).
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used)]
use cairn_sim::{Routing, Scenario, World};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(mut s) = Scenario::parse(text) {
        s.nodes.count = s.nodes.count.min(8);
        s.nodes.contacts = s.nodes.contacts.min(s.nodes.count - 1);
        s.traffic.messages = s.traffic.messages.min(8);
        s.duration_s = s.duration_s.min(60);
        s.traffic.end_s = s.traffic.end_s.min(s.duration_s);
        s.traffic.start_s = s.traffic.start_s.min(s.traffic.end_s);
        let _ = World::new(s, Routing::Cairn, 1).run();
    }
});
