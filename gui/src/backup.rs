//! Back up the profile (a menu in the top bar) and bring one back (on the
//! first screen), as `cairn backup` and `cairn restore` do.

use cairn_node::api::Secret;
use cairn_node::{Reply, Request};
use egui::{Color32, TextEdit};
use zeroize::Zeroizing;

use crate::text::label;
use crate::tr;
use crate::{CairnApp, edit};

/// What the backup form holds.
pub(crate) struct BackupForm {
    pub(crate) path: String,
    pub(crate) passphrase: Zeroizing<String>,
    pub(crate) repeat: Zeroizing<String>,
    pub(crate) files: bool,
    /// What the last backup or restore said.
    pub(crate) done: Option<String>,
}

impl Default for BackupForm {
    fn default() -> Self {
        Self {
            path: String::new(),
            passphrase: Zeroizing::new(String::new()),
            repeat: Zeroizing::new(String::new()),
            files: true,
            done: None,
        }
    }
}

fn absolute(path: &str) -> String {
    std::path::absolute(path.trim())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.trim().to_owned())
}

impl CairnApp {
    /// The form behind Profile → Back up…
    pub(crate) fn backup_tab(&mut self, ui: &mut egui::Ui) {
        ui.heading(tr!("backup-title"));
        label(ui, tr!("backup-explain"));
        ui.add_space(8.0);
        let l = label(ui, tr!("backup-file"));
        edit::line_edit(ui, &mut self.backup.path, "backup-file", 400.0, "")
            .response
            .labelled_by(l.id);
        let l = label(ui, tr!("backup-passphrase"));
        ui.add(TextEdit::singleline(&mut *self.backup.passphrase).password(true))
            .labelled_by(l.id);
        let l = label(ui, tr!("repeat-passphrase"));
        ui.add(TextEdit::singleline(&mut *self.backup.repeat).password(true))
            .labelled_by(l.id);
        ui.checkbox(&mut self.backup.files, tr!("backup-with-files"));
        if ui.button(tr!("backup-write")).clicked() {
            self.write_backup();
        }
        if let Some(done) = &self.backup.done {
            ui.colored_label(Color32::from_rgb(0x30, 0xa0, 0x50), done);
        }
    }

    fn write_backup(&mut self) {
        self.backup.done = None;
        if self.backup.passphrase.is_empty() {
            self.error = Some(tr!("backup-no-passphrase"));
            return;
        }
        if *self.backup.passphrase != *self.backup.repeat {
            self.error = Some(tr!("passphrases-differ"));
            return;
        }
        let path = absolute(&self.backup.path);
        let request = Request::Backup {
            path: path.clone(),
            passphrase: Secret(self.backup.passphrase.clone()),
            files: self.backup.files,
        };
        if let Some(Reply::BackedUp(b)) = self.call(request) {
            self.error = None;
            self.backup.done = Some(tr!(
                "backup-done",
                path = path,
                contacts = b.contacts,
                messages = b.messages,
                groups = b.groups
            ));
            self.backup.passphrase = Zeroizing::new(String::new());
            self.backup.repeat = Zeroizing::new(String::new());
        }
    }

    /// On the first screen: a backup file and its passphrase; the profile
    /// gets the passphrase chosen above.
    pub(crate) fn restore_section(&mut self, ui: &mut egui::Ui) {
        ui.add_space(16.0);
        ui.separator();
        ui.heading(tr!("restore-title"));
        label(ui, tr!("restore-explain"));
        let l = label(ui, tr!("backup-file"));
        edit::line_edit(ui, &mut self.backup.path, "restore-file", 400.0, "")
            .response
            .labelled_by(l.id);
        let l = label(ui, tr!("backup-passphrase"));
        ui.add(TextEdit::singleline(&mut *self.backup.passphrase).password(true))
            .labelled_by(l.id);
        if ui.button(tr!("restore")).clicked() {
            self.restore_profile();
        }
    }

    fn restore_profile(&mut self) {
        if self.passphrase != self.repeat {
            self.error = Some(tr!("passphrases-differ"));
            return;
        }
        let path = absolute(&self.backup.path);
        let restored = std::fs::File::open(&path)
            .map_err(|e| format!("{path}: {e}"))
            .and_then(|file| {
                let mut input = std::io::BufReader::new(file);
                self.profile
                    .restore(
                        &mut input,
                        self.backup.passphrase.as_bytes(),
                        self.passphrase.as_bytes(),
                        &mut |_| {},
                    )
                    .map_err(|e| e.to_string())
            })
            .and_then(|_| {
                self.profile
                    .open(self.passphrase.as_bytes())
                    .map_err(|e| e.to_string())
            });
        match restored {
            Ok(opened) => {
                self.backup = BackupForm::default();
                self.start(opened);
            }
            Err(e) => {
                self.error = Some(e);
                self.backup.passphrase = Zeroizing::new(String::new());
            }
        }
    }
}
