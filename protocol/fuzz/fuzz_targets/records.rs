//! Records as stored (after the store opened them), device lists and link
//! codes (docs/DEVICES.md).
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used)]
use cairn_protocol::devices::{DeviceList, LinkCode};
use cairn_protocol::file::FileRecord;
use cairn_protocol::mesh::carrier::CarriedRecord;
use cairn_protocol::{Contact, MessageRecord};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Contact::decode(data);
    if let Ok(m) = MessageRecord::decode(data) {
        assert_eq!(MessageRecord::decode(&m.encode()).as_ref(), Ok(&m));
    }
    let _ = CarriedRecord::decode(data);
    let _ = FileRecord::decode(data);
    if let Ok(list) = DeviceList::decode(data) {
        let _ = list.verify(&list.account());
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(code) = LinkCode::from_uri(text)
    {
        assert_eq!(LinkCode::from_uri(&code.to_uri()).as_ref(), Ok(&code));
    }
});
