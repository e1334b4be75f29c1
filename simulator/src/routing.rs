//! Which routing a run uses, and the mesh settings it gives a node.

use std::time::Duration;

use cairn_protocol::mesh::{MeshConfig, Policy};

use crate::scenario::Scenario;

/// The routing a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing {
    /// Cairn's default: spray-and-wait with interest and delivery proofs.
    Cairn,
    /// Flooding with a hop limit and nothing else (what bitchat does).
    Epidemic,
    /// Only the sender's copy, only to the recipient.
    Direct,
    /// PRoPHET (RFC 6693): a copy to whoever meets the recipient more surely,
    /// by encounter history — the DTN literature's standard baseline.
    Prophet,
}

impl Routing {
    pub fn name(self) -> &'static str {
        match self {
            Routing::Cairn => "cairn",
            Routing::Epidemic => "epidemic",
            Routing::Direct => "direct",
            Routing::Prophet => "prophet",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "cairn" => Some(Routing::Cairn),
            "epidemic" => Some(Routing::Epidemic),
            "direct" => Some(Routing::Direct),
            "prophet" => Some(Routing::Prophet),
            _ => None,
        }
    }

    /// The mesh settings a node runs with under this routing.
    pub fn mesh(self, sc: &Scenario) -> MeshConfig {
        let m = &sc.mesh;
        let mut cfg = MeshConfig::default();
        cfg.carrier.capacity_bytes = m.capacity_bytes;
        cfg.ttl = Duration::from_secs(m.ttl_s);
        cfg.hop_limit = m.hop_limit;
        match self {
            Routing::Cairn => cfg.policy = Policy::SprayAndWait { copies: m.copies },
            Routing::Epidemic => {
                cfg.policy = Policy::Epidemic;
                cfg.acks = false;
                cfg.hop_limit = m.flood_hop_limit;
            }
            Routing::Direct => cfg.policy = Policy::Direct,
            Routing::Prophet => cfg.policy = Policy::Prophet,
        }
        cfg
    }
}
