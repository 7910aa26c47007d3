//! The vault as a client of witnesses (C2SP `tlog-witness`): after an integration, each
//! configured witness is sent the log's new checkpoint with a consistency proof from the size it
//! last cosigned; the cosignatures that verify are kept, and once the policy's quorum cosigned a
//! checkpoint, that cosigned checkpoint is what `/log/{name}/checkpoint` serves.
//!
//! **Invariant:** a cosignature is kept only if it verifies under the configured cosigner key;
//! the served checkpoint never goes back to a smaller size.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::layout;
use super::logs::{LogName, LogState};
use super::{Vault, VaultError};
use crate::store::{Change, Table};
use crate::tlog::note::Note;
use crate::tlog::tiles::TreeReader;
use crate::tlog::witness::{AddCheckpoint, Cosigner};
use crate::verdict::Reason;

/// One witness: where its `add-checkpoint` is, and its cosigner key.
#[derive(Debug, Clone)]
pub struct Witness {
    /// The submission prefix (`…/add-checkpoint` is appended).
    pub url: String,
    pub cosigner: Cosigner,
}

impl Witness {
    /// Parses `URL,KEY` (the `--witness` option).
    pub fn parse(s: &str) -> Result<Self, String> {
        let (url, key) = s
            .split_once(',')
            .ok_or("a witness is URL,KEY (its submission prefix and its cosigner key)")?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("a witness URL must be http(s): {url}"));
        }
        let cosigner = Cosigner::parse(key).map_err(|e| e.0.to_owned())?;
        Ok(Self {
            url: url.trim_end_matches('/').to_owned(),
            cosigner,
        })
    }
}

/// Which witnesses, and how many must cosign a checkpoint before it is served.
#[derive(Debug, Clone, Default)]
pub struct WitnessPolicy {
    pub witnesses: Vec<Witness>,
    pub quorum: usize,
}

/// A checkpoint cosigned by a quorum of witnesses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Witnessed {
    pub size: u64,
    /// The signed note with the log's and the witnesses' lines.
    pub checkpoint: String,
}

/// What the vault remembers of each witness: the size it last cosigned, per log.
#[derive(Debug, Default)]
pub(super) struct WitnessMemory(Mutex<HashMap<(LogName, usize), u64>>);

impl Vault {
    pub fn witness_policy(&self) -> &WitnessPolicy {
        &self.witnesses
    }

    /// The checkpoint of `log` a quorum of witnesses cosigned last, if any.
    pub fn witnessed(&self, log: LogName) -> Result<Option<Witnessed>, VaultError> {
        Ok(self
            .store
            .get(Table::Meta, &layout::log_witnessed(log.as_str()))?
            .map(|v| layout::decode(Table::Meta, &v))
            .transpose()?)
    }

    /// Sends `log`'s latest checkpoint to every witness; records it cosigned when a quorum
    /// cosigned it. Returns the number of cosignatures gathered.
    pub fn witness(&self, log: LogName) -> Result<usize, VaultError> {
        let policy = &self.witnesses;
        let Some(state) = self.log_state(log)? else {
            return Ok(0);
        };
        let current = self.witnessed(log)?;
        if policy.witnesses.is_empty() || current.as_ref().is_some_and(|w| w.size >= state.size) {
            return Ok(0);
        }
        let mut note = Note::parse(&state.checkpoint)?;
        for (i, w) in policy.witnesses.iter().enumerate() {
            match self.ask_witness(log, i, w, &state) {
                Ok(lines) => note.signatures.extend(lines),
                Err(e) => {
                    tracing::warn!(witness = %w.url, log = log.as_str(), error = %e, "the witness did not cosign")
                }
            }
        }
        let cosigned = note.signatures.len() - 1;
        if cosigned < policy.quorum {
            return Ok(cosigned);
        }
        let key = layout::log_witnessed(log.as_str());
        let raw = self.store.get(Table::Meta, &key)?;
        let mut c = Change::durable();
        c.expect(Table::Meta, key.clone(), raw).put(
            Table::Meta,
            key,
            layout::encode(&Witnessed {
                size: state.size,
                checkpoint: note.to_text(),
            }),
        );
        // Another node recorded one first: it stands (the next round sends the next size).
        match self.store.commit(c) {
            Err(crate::store::StoreError::Conflict(_)) => {}
            other => other?,
        }
        Ok(cosigned)
    }

    /// One witness's cosignature lines for `state`'s checkpoint, verified.
    fn ask_witness(
        &self,
        log: LogName,
        i: usize,
        w: &Witness,
        state: &LogState,
    ) -> Result<Vec<crate::tlog::note::NoteSignature>, VaultError> {
        let fail = |m: String| VaultError::new(Reason::Unavailable, "witness", m);
        let client = self.http_client();
        let mut old = *self
            .witness_memory
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(log, i))
            .unwrap_or(&0);
        for _ in 0..2 {
            let proof = if old == 0 || old >= state.size {
                Vec::new()
            } else {
                TreeReader::new(state.size, |l, n, wd| self.log_tile_hashes(log, l, n, wd))
                    .consistency(old)?
            };
            let body = AddCheckpoint {
                old,
                proof,
                checkpoint: state.checkpoint.clone(),
            }
            .to_text();
            let resp = client
                .post(format!("{}/add-checkpoint", w.url))
                .body(body)
                .send()
                .map_err(|e| fail(e.to_string()))?;
            let status = resp.status().as_u16();
            let text = resp.text().map_err(|e| fail(e.to_string()))?;
            match status {
                200 => {
                    let note =
                        Note::parse(&format!("{}\n{text}", Note::parse(&state.checkpoint)?.text))?;
                    let mut mine = Vec::new();
                    for s in note.signatures {
                        match w.cosigner.verify(&note.text, &s) {
                            Some(Ok(_)) => mine.push(s),
                            Some(Err(e)) => {
                                return Err(fail(format!(
                                    "a cosignature that does not verify: {e}"
                                )))
                            }
                            None => {}
                        }
                    }
                    if mine.is_empty() {
                        return Err(fail("no cosignature by the configured key".into()));
                    }
                    self.witness_memory
                        .0
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert((log, i), state.size);
                    return Ok(mine);
                }
                409 => {
                    old = text
                        .trim_end()
                        .parse()
                        .map_err(|_| fail(format!("409 without a size: {text}")))?;
                    if old > state.size {
                        return Err(fail(format!(
                            "the witness cosigned size {old}, beyond this log's {}: the log was rolled back",
                            state.size
                        )));
                    }
                }
                s => return Err(fail(format!("{s}: {}", text.trim()))),
            }
        }
        Err(fail("the witness kept answering 409".into()))
    }

    fn http_client(&self) -> &reqwest::blocking::Client {
        static CLIENT: std::sync::OnceLock<reqwest::blocking::Client> = std::sync::OnceLock::new();
        CLIENT.get_or_init(|| {
            reqwest::blocking::Client::builder()
                .timeout(std::time::Duration::from_secs(5))
                .build()
                .unwrap_or_default()
        })
    }
}
