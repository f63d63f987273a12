//! The life of an instance (istanza) as a state machine: its states, the transitions
//! between them, and the rules that depend only on the state. Pure: no I/O.
//!
//! Today an instance is a draft until the citizen submits it; submission is final (the
//! document is frozen, registered and routed). The back office grows this module into the
//! whole procedure (taken, awaiting integration, decided, closed), so every status check of
//! the service asks this type rather than comparing strings.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

/// Where an instance is in its life. Stored as its [`as_str`](Self::as_str) text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InstanceStatus {
    /// Being filled by the citizen; may be changed, discarded, or expire.
    Draft,
    /// Submitted: frozen, registered in the protocol and routed to an office.
    Submitted,
}

/// What can happen to an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The citizen changes the data or the attachments of the draft.
    Edit,
    /// The citizen discards the draft.
    Discard,
    /// The citizen submits the draft.
    Submit,
}

/// A transition the current status does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{transition:?} is not allowed on an instance that is {from:?}")]
pub struct NotAllowed {
    pub from: InstanceStatus,
    pub transition: Transition,
}

/// A stored status text that is not a status (a database written by something else).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown instance status {0:?}")]
pub struct UnknownStatus(pub String);

impl InstanceStatus {
    pub const ALL: [Self; 2] = [Self::Draft, Self::Submitted];

    /// The stored and wire form (`draft`, `submitted`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Submitted => "submitted",
        }
    }

    pub fn parse(s: &str) -> Result<Self, UnknownStatus> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }

    pub fn is_draft(self) -> bool {
        self == Self::Draft
    }

    /// The status after `transition`, or why it is refused.
    pub fn apply(self, transition: Transition) -> Result<Self, NotAllowed> {
        match (self, transition) {
            (Self::Draft, Transition::Edit) => Ok(Self::Draft),
            // A discarded draft is deleted: it has no status afterwards; "still a draft" is
            // what the caller deletes.
            (Self::Draft, Transition::Discard) => Ok(Self::Draft),
            (Self::Draft, Transition::Submit) => Ok(Self::Submitted),
            (from @ Self::Submitted, transition) => Err(NotAllowed { from, transition }),
        }
    }

    /// Whether `transition` is allowed now.
    pub fn allows(self, transition: Transition) -> bool {
        self.apply(transition).is_ok()
    }

    /// The one rule of draft expiry: a draft whose expiry time has come is gone (as if it had
    /// never existed); nothing else expires.
    pub fn is_expired(self, expires_at: Option<NaiveDateTime>, now: NaiveDateTime) -> bool {
        self.is_draft() && expires_at.is_some_and(|e| e <= now)
    }
}

impl std::fmt::Display for InstanceStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for InstanceStatus {
    type Error = UnknownStatus;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    const TRANSITIONS: [Transition; 3] =
        [Transition::Edit, Transition::Discard, Transition::Submit];

    #[test]
    fn every_status_reads_back_from_its_text() {
        for st in InstanceStatus::ALL {
            assert_eq!(InstanceStatus::parse(st.as_str()), Ok(st));
            assert_eq!(
                serde_json::to_value(st).unwrap(),
                serde_json::Value::from(st.as_str())
            );
        }
        assert_eq!(
            InstanceStatus::parse("Draft"),
            Err(UnknownStatus("Draft".into()))
        );
        assert!(InstanceStatus::try_from(String::new()).is_err());
    }

    #[test]
    fn a_draft_can_be_edited_discarded_and_submitted() {
        let d = InstanceStatus::Draft;
        assert_eq!(d.apply(Transition::Edit), Ok(InstanceStatus::Draft));
        assert_eq!(d.apply(Transition::Discard), Ok(InstanceStatus::Draft));
        assert_eq!(d.apply(Transition::Submit), Ok(InstanceStatus::Submitted));
    }

    #[test]
    fn nothing_happens_to_a_submitted_instance_through_the_citizen() {
        for t in TRANSITIONS {
            assert_eq!(
                InstanceStatus::Submitted.apply(t),
                Err(NotAllowed {
                    from: InstanceStatus::Submitted,
                    transition: t
                })
            );
            assert!(!InstanceStatus::Submitted.allows(t));
        }
    }

    #[test]
    fn only_a_draft_past_its_expiry_is_expired() {
        let at = |h| {
            NaiveDate::from_ymd_opt(2026, 12, 1)
                .unwrap()
                .and_hms_opt(h, 0, 0)
                .unwrap()
        };
        let d = InstanceStatus::Draft;
        assert!(!d.is_expired(None, at(10)));
        assert!(!d.is_expired(Some(at(11)), at(10)));
        assert!(d.is_expired(Some(at(10)), at(10)), "expiry is inclusive");
        assert!(d.is_expired(Some(at(9)), at(10)));
        assert!(!InstanceStatus::Submitted.is_expired(Some(at(9)), at(10)));
    }
}
