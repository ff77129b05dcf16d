//! The model of `loadgen crash`: the operations a child reports ([`Op`]), what the
//! directory must hold after them ([`Model`]), and the reading of the child's report lines
//! into both ([`Tracker`]): acknowledged operations applied, `maybe` ones kept pending.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use anyhow::{Context, bail, ensure};

/// One operation as the child reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Op {
    Follow {
        user: u32,
        account: u32,
    },
    Unfollow {
        user: u32,
        account: u32,
    },
    /// Users `from..to` in steps of `step` follow `account`.
    FollowRange {
        account: u32,
        from: u32,
        to: u32,
        step: u32,
    },
    Register {
        account: u32,
    },
    Speed {
        account: u32,
    },
    Send {
        account: u32,
    },
    Terminate {
        account: u32,
    },
    Snapshot,
}

impl Op {
    pub(super) fn parse(text: &str) -> anyhow::Result<Op> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        let num = |i: usize| -> anyhow::Result<u32> {
            parts
                .get(i)
                .with_context(|| format!("short line: {text}"))?
                .parse()
                .with_context(|| format!("bad number: {text}"))
        };
        Ok(match parts.first().copied() {
            Some("follow") => Op::Follow {
                user: num(1)?,
                account: num(2)?,
            },
            Some("unfollow") => Op::Unfollow {
                user: num(1)?,
                account: num(2)?,
            },
            Some("follow-range") => Op::FollowRange {
                account: num(1)?,
                from: num(2)?,
                to: num(3)?,
                step: num(4)?.max(1),
            },
            Some("register") => Op::Register { account: num(1)? },
            Some("speed") => Op::Speed { account: num(1)? },
            Some("send") => Op::Send { account: num(1)? },
            Some("terminate") => Op::Terminate { account: num(1)? },
            Some("snapshot") => Op::Snapshot,
            _ => bail!("unexpected operation from the child: {text}"),
        })
    }
}

/// What the directory must hold, from acknowledgements.
#[derive(Debug, Clone, Default)]
pub(super) struct Model {
    /// Registered accounts (ids `0..accounts`).
    pub(super) accounts: u32,
    pub(super) followers: BTreeMap<u32, BTreeSet<u32>>,
    pub(super) terminated: BTreeSet<u32>,
    pub(super) last_seq: HashMap<u32, u32>,
    /// (account, seq) -> audience.
    pub(super) sends: HashMap<(u32, u32), BTreeSet<u32>>,
}

impl Model {
    pub(super) fn apply(&mut self, op: &Op) {
        match *op {
            Op::Follow { user, account } => {
                self.followers.entry(account).or_default().insert(user);
            }
            Op::Unfollow { user, account } => {
                self.followers.entry(account).or_default().remove(&user);
            }
            Op::FollowRange {
                account,
                from,
                to,
                step,
            } => {
                let set = self.followers.entry(account).or_default();
                set.extend((from..to).step_by(step as usize));
            }
            Op::Register { account } => {
                self.accounts = self.accounts.max(account + 1);
                self.followers.entry(account).or_default();
            }
            Op::Send { account } => {
                let seq = self.last_seq.get(&account).copied().unwrap_or(0) + 1;
                self.last_seq.insert(account, seq);
                let audience = self.followers.get(&account).cloned().unwrap_or_default();
                self.sends.insert((account, seq), audience);
            }
            Op::Terminate { account } => {
                self.terminated.insert(account);
                self.followers.remove(&account);
            }
            Op::Speed { .. } | Op::Snapshot => {}
        }
    }

    pub(super) fn live(&self, account: u32) -> bool {
        account < self.accounts && !self.terminated.contains(&account)
    }
}

/// The model, plus the operations whose durability is not known: `maybe` ones after the
/// last acknowledgement, and the one in flight at a kill.
pub(super) struct Tracker {
    pub(super) model: Model,
    pub(super) pending: Vec<Op>,
    /// When the latest acknowledgement arrived.
    pub(super) last_ack: Option<Instant>,
    pub(super) acked: u64,
    pub(super) maybe: u64,
    pub(super) refused: u64,
}

impl Tracker {
    pub(super) fn line(&mut self, line: &str, in_flight: &mut Option<Op>) -> anyhow::Result<()> {
        if let Some(op) = line.strip_prefix("try ") {
            *in_flight = Some(Op::parse(op)?);
        } else if let Some(rest) = line.strip_prefix("ok ") {
            let op = Op::parse(rest)?;
            // An acknowledged record is durable, so is every record before it.
            for earlier in std::mem::take(&mut self.pending) {
                self.model.apply(&earlier);
            }
            if let Op::Send { account } = op {
                // `ok send ACCOUNT SEQ TOTAL`: the child's view must be the model's.
                let parts: Vec<&str> = rest.split_whitespace().collect();
                let seq: u32 = parts.get(2).context("short send line")?.parse()?;
                let total: usize = parts.get(3).context("short send line")?.parse()?;
                let expected_seq = self.model.last_seq.get(&account).copied().unwrap_or(0) + 1;
                let audience = self.model.followers.get(&account).map_or(0, |s| s.len());
                ensure!(
                    seq == expected_seq && total == audience,
                    "send {account}/{seq} of {total} recipients; the model expected {account}/{expected_seq} of {audience}"
                );
            }
            self.model.apply(&op);
            self.acked += 1;
            self.last_ack = Some(Instant::now());
            *in_flight = None;
        } else if let Some(op) = line.strip_prefix("maybe ") {
            self.pending.push(Op::parse(op)?);
            self.maybe += 1;
            *in_flight = None;
        } else if line.starts_with("refused ") {
            self.refused += 1;
            *in_flight = None;
        } else {
            bail!("unexpected line from the child: {line}");
        }
        Ok(())
    }
}
