//! Your devices (Profile → Devices…): the list, a one-time code to link a
//! new one (with its QR code), revoking one; and, on the first screen,
//! linking this device to a profile you have elsewhere — as `cairn device`
//! and `cairn init --link` do (docs/DEVICES.md).

use cairn_node::api::{DevicesInfo, Secret};
use cairn_node::{Reply, Request};
use egui::{Color32, TextEdit};
use zeroize::Zeroizing;

use crate::text::label;
use crate::tr;
use crate::{CairnApp, edit, qr_texture, row, show_code};

/// What the Devices tab and the first screen's link form hold.
pub(crate) struct DevicesView {
    /// The last list read from the node.
    pub(crate) info: Option<DevicesInfo>,
    /// A link code handed out, and its QR code.
    code: Option<(String, egui::TextureHandle)>,
    /// First screen: the code from the other device, and this one's name.
    link_code: Zeroizing<String>,
    device_name: String,
    /// What the last revocation said.
    done: Option<String>,
}

impl Default for DevicesView {
    fn default() -> Self {
        Self {
            info: None,
            code: None,
            link_code: Zeroizing::new(String::new()),
            device_name: tr!("device-default-name"),
            done: None,
        }
    }
}

impl CairnApp {
    /// Profile → Devices…
    pub(crate) fn devices_tab(&mut self, ui: &mut egui::Ui) {
        ui.heading(tr!("devices-title"));
        label(ui, tr!("devices-explain"));
        ui.add_space(8.0);
        let Some(info) = self.devices.info.clone() else {
            label(ui, tr!("loading"));
            return;
        };
        if info.joining {
            ui.colored_label(
                Color32::from_rgb(0xd0, 0x80, 0x00),
                tr!("device-not-linked-yet"),
            );
        }
        let mut revoke = None;
        for d in &info.devices {
            row(ui, |ui| {
                let mut shown = d.name.clone();
                if d.this {
                    shown = tr!("device-this", name = shown);
                }
                if d.mailbox {
                    shown = format!("{shown} · {}", tr!("device-mailbox"));
                }
                label(ui, shown);
                if info.holder && !d.this && ui.button(tr!("device-revoke")).clicked() {
                    revoke = Some((d.id.clone(), d.name.clone()));
                }
            });
        }
        if info.revoked > 0 {
            label(ui, tr!("devices-revoked", count = info.revoked));
        }
        if let Some((id, name)) = revoke
            && let Some(Reply::Devices(d)) = self.call(Request::DeviceRevoke { device: id })
        {
            self.devices.info = Some(d);
            self.devices.done = Some(tr!("device-revoked", name = name));
        }
        if let Some(done) = &self.devices.done {
            ui.colored_label(Color32::from_rgb(0x30, 0xa0, 0x50), done);
        }
        ui.separator();
        if !info.holder {
            label(ui, tr!("devices-not-holder"));
            return;
        }
        if ui.button(tr!("device-link")).clicked()
            && let Some(Reply::LinkCode { uri, .. }) = self.call(Request::DeviceLink)
            && let Some(texture) = qr_texture(ui.ctx(), "link-code", &uri)
        {
            self.devices.code = Some((uri, texture));
        }
        if let Some((uri, texture)) = &self.devices.code {
            label(ui, tr!("device-link-help"));
            show_code(ui, &tr!("device-link-code"), uri, texture);
        }
    }

    /// On the first screen: this device joins a profile kept on another
    /// device, with the code that one shows; it gets the passphrase chosen
    /// above.
    pub(crate) fn link_section(&mut self, ui: &mut egui::Ui) {
        ui.add_space(16.0);
        ui.separator();
        ui.heading(tr!("link-title"));
        label(ui, tr!("link-explain"));
        let l = label(ui, tr!("device-link-code"));
        ui.add(
            TextEdit::singleline(&mut *self.devices.link_code)
                .hint_text("cairn:link:…")
                .desired_width(400.0),
        )
        .labelled_by(l.id);
        let l = label(ui, tr!("device-name"));
        edit::line_edit(ui, &mut self.devices.device_name, "device-name", 300.0, "")
            .response
            .labelled_by(l.id);
        if ui.button(tr!("link-this-device")).clicked() {
            self.link_this_device();
        }
    }

    fn link_this_device(&mut self) {
        if self.passphrase != self.repeat {
            self.error = Some(tr!("passphrases-differ"));
            return;
        }
        let code = match cairn_protocol::devices::LinkCode::from_uri(&self.devices.link_code) {
            Ok(code) => code,
            Err(e) => {
                self.error = Some(tr!("link-bad-code", error = e.to_string()));
                self.devices.link_code = Zeroizing::new(String::new());
                return;
            }
        };
        let name = self.devices.device_name.trim().to_owned();
        if let Err(e) = cairn_protocol::devices::check_name(&name) {
            self.error = Some(e.to_string());
            return;
        }
        let opened = match self
            .profile
            .create(code.card.name(), self.passphrase.as_bytes())
        {
            Ok(opened) => opened,
            Err(e) => {
                self.error = Some(e.to_string());
                return;
            }
        };
        self.start(opened);
        let request = Request::DeviceJoin {
            code: Secret(self.devices.link_code.clone()),
            name,
            mailbox: false,
        };
        if let Some(Reply::Devices(d)) = self.call(request) {
            self.devices.info = Some(d);
            self.devices.link_code = Zeroizing::new(String::new());
            self.tab = crate::Tab::Devices;
        }
    }
}
