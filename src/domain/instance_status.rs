//! The life of an instance (istanza) as a state machine, as L. 241/1990 frames a procedure:
//! its states, what can happen in each, who may make it happen and what it needs. Pure: no
//! I/O. Every status check of the service asks this module rather than comparing strings.
//!
//! ```text
//! draft ──submit──▶ submitted ──take/assign──▶ in_progress ──decide──▶ decided ──close──▶ closed
//!                       ▲  │                     │  ▲   │
//!                       └──┴──── hand_over ◀─────┘  │   └─request_integration─▶ awaiting_integration
//!                                                   └──────answer / expire──────────────┘
//! withdrawn: the citizen, before a decision · annulled: its registration annulled
//! silence_assent: the term ran out on a service whose rule says silence means yes
//! FOIA (D.Lgs. 33/2013 art. 5 c. 5): in_progress ──notify_counterparties──▶
//! awaiting_counterparties ──resume_after_counterparties──▶ in_progress (all answered, or 10 days)
//! ```

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

/// Where an instance is in its life. Stored as its [`as_str`](Self::as_str) text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InstanceStatus {
    /// Being filled by the citizen; may be changed, discarded, or expire.
    Draft,
    /// Submitted: frozen, registered in the protocol and routed to an office; nobody has
    /// taken it yet.
    Submitted,
    /// Taken by an operator of the office.
    InProgress,
    /// The office asked the citizen for an integration: the term is suspended.
    AwaitingIntegration,
    /// FOIA: the office told the counter-interested parties (controinteressati) of the
    /// request; the term is suspended until they answer or 10 days pass.
    AwaitingCounterparties,
    /// The office decided (accolta, parzialmente accolta, respinta).
    Decided,
    /// Closed: nothing more happens but internal notes.
    Closed,
    /// Withdrawn by the citizen before a decision.
    Withdrawn,
    /// Its protocol registration was annulled (DPR 445/2000 art. 54).
    Annulled,
    /// The term ran out on a service where silence means assent (L. 241/1990 art. 20).
    SilenceAssent,
}

/// What can happen to an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    /// The citizen changes the data or the attachments of the draft.
    Edit,
    /// The citizen discards the draft.
    Discard,
    /// The citizen submits the draft.
    Submit,
    /// The citizen withdraws the instance (before a decision).
    Withdraw,
    /// The citizen answers the request for integration.
    AnswerIntegration,
    /// An operator takes the instance (assigns it to themself).
    Take,
    /// An operator assigns the instance to a colleague of the office.
    Assign,
    /// An operator hands the instance over to another office.
    HandOver,
    /// An operator writes an internal note (never shown to the citizen).
    Note,
    /// An operator writes a message to the citizen.
    Message,
    /// An operator asks the citizen for an integration (once; the term is suspended).
    RequestIntegration,
    /// An operator decides.
    Decide,
    /// An operator closes a decided instance.
    Close,
    /// The days given for the integration passed without an answer.
    ExpireIntegration,
    /// A decided instance is closed after the configured days.
    AutoClose,
    /// The term ran out on a silence-assent service.
    SilenceAssent,
    /// The protocol registration of the instance is annulled.
    Annul,
    /// FOIA: an operator notifies the counter-interested parties (once; the term is
    /// suspended, D.Lgs. 33/2013 art. 5 c. 5).
    NotifyCounterparties,
    /// FOIA: an operator records a counter-interested party's answer (or opposition).
    RecordCounterpartyAnswer,
    /// FOIA: the term runs again, every party having answered or 10 days having passed.
    ResumeAfterCounterparties,
}

/// Who makes a transition happen (staff roles as the machine sees them: an ente's
/// administrator acts as an operator of every office).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    Citizen,
    Operator,
    ProtocolClerk,
    /// The service itself (daily jobs, the protocol register).
    System,
}

/// What a transition needs besides the actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Requirement {
    /// A reason (hand-over, annulment).
    Reason,
    /// A text (note, message, what the integration must contain, the decision's motivation,
    /// the citizen's answer: text or data).
    Text,
    /// The number of days the citizen has (request for integration: 1–30).
    Days,
    /// The colleague (assignment).
    Assignee,
    /// The receiving office (hand-over).
    Office,
    /// The outcome (decision).
    Outcome,
    /// The counter-interested parties (their names, optional addresses).
    Counterparties,
}

/// The outcome of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Accolta,
    ParzialmenteAccolta,
    Respinta,
    /// Access deferred (differimento, D.Lgs. 33/2013 art. 5-bis c. 5): only for FOIA
    /// services.
    Differita,
}

impl Outcome {
    pub const ALL: [Self; 4] = [
        Self::Accolta,
        Self::ParzialmenteAccolta,
        Self::Respinta,
        Self::Differita,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accolta => "accolta",
            Self::ParzialmenteAccolta => "parzialmente_accolta",
            Self::Respinta => "respinta",
            Self::Differita => "differita",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// As the citizen reads it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Accolta => "accolta",
            Self::ParzialmenteAccolta => "parzialmente accolta",
            Self::Respinta => "respinta",
            Self::Differita => "differita",
        }
    }
}

/// What the machine needs to know beyond the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Facts {
    /// An integration was already requested (the term is suspended at most once).
    pub integration_requested: bool,
    /// The service follows the FOIA procedure (`procedures::ProcedureKind::Foia`): only then
    /// may counter-interested parties be notified.
    pub foia: bool,
    /// The counter-interested parties were notified already (once per instance).
    pub counterparties_notified: bool,
}

impl Facts {
    /// Whether a once-only transition was done already.
    fn done_once(self, transition: Transition) -> bool {
        match transition {
            Transition::RequestIntegration => self.integration_requested,
            Transition::NotifyCounterparties => self.counterparties_notified,
            _ => false,
        }
    }

    /// Whether the kind of procedure allows the transition at all.
    fn procedure_allows(self, transition: Transition) -> bool {
        match transition {
            Transition::NotifyCounterparties | Transition::RecordCounterpartyAnswer => self.foia,
            _ => true,
        }
    }
}

/// Why a transition is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAllowed {
    /// Not this actor's to make.
    #[error("{transition:?} is not for {actor:?}")]
    Actor {
        transition: Transition,
        actor: Actor,
    },
    /// Not in this state: `allowed` lists what this actor may do now.
    #[error("{transition:?} is not allowed on an instance that is {from:?}")]
    State {
        from: InstanceStatus,
        transition: Transition,
        allowed: Vec<Transition>,
    },
    /// Allowed once, and done already (request for integration).
    #[error("{transition:?} was already done once and is allowed only once")]
    OnlyOnce {
        from: InstanceStatus,
        transition: Transition,
        allowed: Vec<Transition>,
    },
}

/// A stored status text that is not a status (a database written by something else).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown instance status {0:?}")]
pub struct UnknownStatus(pub String);

impl Transition {
    pub const ALL: [Self; 20] = [
        Self::Edit,
        Self::Discard,
        Self::Submit,
        Self::Withdraw,
        Self::AnswerIntegration,
        Self::Take,
        Self::Assign,
        Self::HandOver,
        Self::Note,
        Self::Message,
        Self::RequestIntegration,
        Self::Decide,
        Self::Close,
        Self::ExpireIntegration,
        Self::AutoClose,
        Self::SilenceAssent,
        Self::Annul,
        Self::NotifyCounterparties,
        Self::RecordCounterpartyAnswer,
        Self::ResumeAfterCounterparties,
    ];

    /// Who may make it.
    pub fn actors(self) -> &'static [Actor] {
        use Transition::*;
        match self {
            Edit | Discard | Submit | Withdraw | AnswerIntegration => &[Actor::Citizen],
            Take
            | Assign
            | HandOver
            | Note
            | Message
            | RequestIntegration
            | Decide
            | Close
            | NotifyCounterparties
            | RecordCounterpartyAnswer => &[Actor::Operator],
            ExpireIntegration | AutoClose | SilenceAssent | ResumeAfterCounterparties => {
                &[Actor::System]
            }
            Annul => &[Actor::ProtocolClerk, Actor::System],
        }
    }

    /// What it needs (a withdrawal's reason and a decision's reply document are optional).
    pub fn requires(self) -> &'static [Requirement] {
        use Requirement as R;
        use Transition::*;
        match self {
            Assign => &[R::Assignee],
            HandOver => &[R::Office, R::Reason],
            Note | Message | AnswerIntegration => &[R::Text],
            RequestIntegration => &[R::Text, R::Days],
            Decide => &[R::Outcome, R::Text],
            Annul => &[R::Reason],
            NotifyCounterparties => &[R::Counterparties],
            RecordCounterpartyAnswer => &[R::Text],
            Edit
            | Discard
            | Submit
            | Withdraw
            | Take
            | Close
            | ExpireIntegration
            | AutoClose
            | SilenceAssent
            | ResumeAfterCounterparties => &[],
        }
    }

    /// The wire name (`request_integration`).
    pub fn as_str(self) -> &'static str {
        use Transition::*;
        match self {
            Edit => "edit",
            Discard => "discard",
            Submit => "submit",
            Withdraw => "withdraw",
            AnswerIntegration => "answer_integration",
            Take => "take",
            Assign => "assign",
            HandOver => "hand_over",
            Note => "note",
            Message => "message",
            RequestIntegration => "request_integration",
            Decide => "decide",
            Close => "close",
            ExpireIntegration => "expire_integration",
            AutoClose => "auto_close",
            SilenceAssent => "silence_assent",
            Annul => "annul",
            NotifyCounterparties => "notify_counterparties",
            RecordCounterpartyAnswer => "record_counterparty_answer",
            ResumeAfterCounterparties => "resume_after_counterparties",
        }
    }
}

impl InstanceStatus {
    pub const ALL: [Self; 10] = [
        Self::Draft,
        Self::Submitted,
        Self::InProgress,
        Self::AwaitingIntegration,
        Self::AwaitingCounterparties,
        Self::Decided,
        Self::Closed,
        Self::Withdrawn,
        Self::Annulled,
        Self::SilenceAssent,
    ];

    /// The stored and wire form (`draft`, `in_progress`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Submitted => "submitted",
            Self::InProgress => "in_progress",
            Self::AwaitingIntegration => "awaiting_integration",
            Self::AwaitingCounterparties => "awaiting_counterparties",
            Self::Decided => "decided",
            Self::Closed => "closed",
            Self::Withdrawn => "withdrawn",
            Self::Annulled => "annulled",
            Self::SilenceAssent => "silence_assent",
        }
    }

    /// As a citizen or an operator reads it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Draft => "Bozza",
            Self::Submitted => "Presentata",
            Self::InProgress => "In lavorazione",
            Self::AwaitingIntegration => "In attesa di integrazione",
            Self::AwaitingCounterparties => "In attesa dei controinteressati",
            Self::Decided => "Conclusa con provvedimento",
            Self::Closed => "Archiviata",
            Self::Withdrawn => "Ritirata",
            Self::Annulled => "Annullata",
            Self::SilenceAssent => "Accolta per silenzio-assenso",
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

    /// The legal term runs (an office is expected to act): submitted or in progress. It is
    /// suspended while awaiting integration and over once decided.
    pub fn term_runs(self) -> bool {
        matches!(self, Self::Submitted | Self::InProgress)
    }

    /// The term is suspended: awaiting the citizen's integration or the counter-interested
    /// parties' answers.
    pub fn term_suspended(self) -> bool {
        matches!(
            self,
            Self::AwaitingIntegration | Self::AwaitingCounterparties
        )
    }

    /// Still before a decision: in an office's open work.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            Self::Submitted
                | Self::InProgress
                | Self::AwaitingIntegration
                | Self::AwaitingCounterparties
        )
    }

    /// The state after `transition` by `actor`, or why it is refused.
    pub fn apply(
        self,
        transition: Transition,
        actor: Actor,
        facts: Facts,
    ) -> Result<Self, NotAllowed> {
        if !transition.actors().contains(&actor) {
            return Err(NotAllowed::Actor { transition, actor });
        }
        let allowed = || self.allowed(actor, facts);
        match self.target(transition) {
            None => Err(NotAllowed::State {
                from: self,
                transition,
                allowed: allowed(),
            }),
            Some(_) if !facts.procedure_allows(transition) => Err(NotAllowed::State {
                from: self,
                transition,
                allowed: allowed(),
            }),
            Some(_) if facts.done_once(transition) => Err(NotAllowed::OnlyOnce {
                from: self,
                transition,
                allowed: allowed(),
            }),
            Some(to) => Ok(to),
        }
    }

    /// Whether `actor` may make `transition` now.
    pub fn allows(self, transition: Transition, actor: Actor, facts: Facts) -> bool {
        self.apply(transition, actor, facts).is_ok()
    }

    /// Everything `actor` may do now, in [`Transition::ALL`] order.
    pub fn allowed(self, actor: Actor, facts: Facts) -> Vec<Transition> {
        Transition::ALL
            .into_iter()
            .filter(|t| t.actors().contains(&actor))
            .filter(|t| self.target(*t).is_some())
            .filter(|t| facts.procedure_allows(*t) && !facts.done_once(*t))
            .collect()
    }

    /// The state a transition leads to from here, whoever makes it; `None` when the state
    /// does not allow it. The table of the machine.
    fn target(self, transition: Transition) -> Option<Self> {
        use InstanceStatus as S;
        use Transition as T;
        let to = match (self, transition) {
            // A discarded draft is deleted: "still a draft" is what the caller deletes.
            (S::Draft, T::Edit | T::Discard) => S::Draft,
            (S::Draft, T::Submit) => S::Submitted,
            (S::Draft, _) => return None,

            (S::Submitted | S::InProgress, T::Take | T::Assign) => S::InProgress,
            (S::AwaitingIntegration, T::Take | T::Assign) => S::AwaitingIntegration,
            (S::AwaitingCounterparties, T::Take | T::Assign) => S::AwaitingCounterparties,
            (S::InProgress, T::NotifyCounterparties) => S::AwaitingCounterparties,
            // A late answer (after the 10 days) is still recorded.
            (s @ (S::AwaitingCounterparties | S::InProgress), T::RecordCounterpartyAnswer) => s,
            (S::AwaitingCounterparties, T::ResumeAfterCounterparties) => S::InProgress,
            (S::Submitted | S::InProgress, T::HandOver) => S::Submitted,
            (S::InProgress, T::RequestIntegration) => S::AwaitingIntegration,
            (S::InProgress, T::Decide) => S::Decided,
            (S::AwaitingIntegration, T::AnswerIntegration | T::ExpireIntegration) => S::InProgress,
            (
                S::Submitted | S::InProgress | S::AwaitingIntegration | S::AwaitingCounterparties,
                T::Withdraw,
            ) => S::Withdrawn,
            (S::Submitted | S::InProgress, T::SilenceAssent) => S::SilenceAssent,
            (S::Decided | S::SilenceAssent, T::Close | T::AutoClose) => S::Closed,

            // Talking to the citizen: while there is something to say.
            (
                s @ (S::Submitted
                | S::InProgress
                | S::AwaitingIntegration
                | S::AwaitingCounterparties
                | S::Decided
                | S::SilenceAssent),
                T::Message,
            ) => s,
            // Internal notes: always, once submitted.
            (s, T::Note) => s,
            // An annulled registration annuls the instance, whatever it had become.
            (S::Annulled, T::Annul) => return None,
            (_, T::Annul) => S::Annulled,
            _ => return None,
        };
        Some(to)
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
    use InstanceStatus as S;
    use Transition as T;

    const ACTORS: [Actor; 4] = [
        Actor::Citizen,
        Actor::Operator,
        Actor::ProtocolClerk,
        Actor::System,
    ];

    /// The whole machine written out once more, as a table a reader checks against the law:
    /// (from, transition) → to. Anything not listed is refused.
    const TABLE: &[(S, T, S)] = &[
        (S::Draft, T::Edit, S::Draft),
        (S::Draft, T::Discard, S::Draft),
        (S::Draft, T::Submit, S::Submitted),
        (S::Submitted, T::Take, S::InProgress),
        (S::Submitted, T::Assign, S::InProgress),
        (S::Submitted, T::HandOver, S::Submitted),
        (S::Submitted, T::Note, S::Submitted),
        (S::Submitted, T::Message, S::Submitted),
        (S::Submitted, T::Withdraw, S::Withdrawn),
        (S::Submitted, T::SilenceAssent, S::SilenceAssent),
        (S::Submitted, T::Annul, S::Annulled),
        (S::InProgress, T::Take, S::InProgress),
        (S::InProgress, T::Assign, S::InProgress),
        (S::InProgress, T::HandOver, S::Submitted),
        (S::InProgress, T::Note, S::InProgress),
        (S::InProgress, T::Message, S::InProgress),
        (S::InProgress, T::RequestIntegration, S::AwaitingIntegration),
        (S::InProgress, T::Decide, S::Decided),
        (S::InProgress, T::Withdraw, S::Withdrawn),
        (S::InProgress, T::SilenceAssent, S::SilenceAssent),
        (S::InProgress, T::Annul, S::Annulled),
        (S::AwaitingIntegration, T::Take, S::AwaitingIntegration),
        (S::AwaitingIntegration, T::Assign, S::AwaitingIntegration),
        (S::AwaitingIntegration, T::Note, S::AwaitingIntegration),
        (S::AwaitingIntegration, T::Message, S::AwaitingIntegration),
        (S::AwaitingIntegration, T::AnswerIntegration, S::InProgress),
        (S::AwaitingIntegration, T::ExpireIntegration, S::InProgress),
        (S::AwaitingIntegration, T::Withdraw, S::Withdrawn),
        (S::AwaitingIntegration, T::Annul, S::Annulled),
        (
            S::InProgress,
            T::NotifyCounterparties,
            S::AwaitingCounterparties,
        ),
        (S::InProgress, T::RecordCounterpartyAnswer, S::InProgress),
        (
            S::AwaitingCounterparties,
            T::Take,
            S::AwaitingCounterparties,
        ),
        (
            S::AwaitingCounterparties,
            T::Assign,
            S::AwaitingCounterparties,
        ),
        (
            S::AwaitingCounterparties,
            T::Note,
            S::AwaitingCounterparties,
        ),
        (
            S::AwaitingCounterparties,
            T::Message,
            S::AwaitingCounterparties,
        ),
        (
            S::AwaitingCounterparties,
            T::RecordCounterpartyAnswer,
            S::AwaitingCounterparties,
        ),
        (
            S::AwaitingCounterparties,
            T::ResumeAfterCounterparties,
            S::InProgress,
        ),
        (S::AwaitingCounterparties, T::Withdraw, S::Withdrawn),
        (S::AwaitingCounterparties, T::Annul, S::Annulled),
        (S::Decided, T::Note, S::Decided),
        (S::Decided, T::Message, S::Decided),
        (S::Decided, T::Close, S::Closed),
        (S::Decided, T::AutoClose, S::Closed),
        (S::Decided, T::Annul, S::Annulled),
        (S::SilenceAssent, T::Note, S::SilenceAssent),
        (S::SilenceAssent, T::Message, S::SilenceAssent),
        (S::SilenceAssent, T::Close, S::Closed),
        (S::SilenceAssent, T::AutoClose, S::Closed),
        (S::SilenceAssent, T::Annul, S::Annulled),
        (S::Closed, T::Note, S::Closed),
        (S::Closed, T::Annul, S::Annulled),
        (S::Withdrawn, T::Note, S::Withdrawn),
        (S::Withdrawn, T::Annul, S::Annulled),
        (S::Annulled, T::Note, S::Annulled),
    ];

    fn expected(from: S, t: T) -> Option<S> {
        TABLE
            .iter()
            .find(|(f, tr, _)| *f == from && *tr == t)
            .map(|(_, _, to)| *to)
    }

    #[test]
    fn every_state_action_and_actor_is_allowed_or_refused_as_the_table_says() {
        let mut allowed_count = 0;
        for from in S::ALL {
            for t in T::ALL {
                for actor in ACTORS {
                    for requested in [false, true] {
                        let facts = Facts {
                            integration_requested: requested,
                            foia: true,
                            counterparties_notified: false,
                        };
                        let got = from.apply(t, actor, facts);
                        let by_role = t.actors().contains(&actor);
                        match (by_role, expected(from, t)) {
                            (false, _) => assert_eq!(
                                got,
                                Err(NotAllowed::Actor {
                                    transition: t,
                                    actor
                                }),
                                "{from:?} {t:?} {actor:?}"
                            ),
                            (true, None) => assert_eq!(
                                got,
                                Err(NotAllowed::State {
                                    from,
                                    transition: t,
                                    allowed: from.allowed(actor, facts)
                                }),
                                "{from:?} {t:?} {actor:?}"
                            ),
                            (true, Some(_)) if t == T::RequestIntegration && requested => {
                                assert!(
                                    matches!(got, Err(NotAllowed::OnlyOnce { .. })),
                                    "{from:?} {t:?}: once only"
                                )
                            }
                            (true, Some(to)) => {
                                allowed_count += 1;
                                assert_eq!(got, Ok(to), "{from:?} {t:?} {actor:?}");
                                assert!(from.allowed(actor, facts).contains(&t));
                            }
                        }
                        assert_eq!(got.is_ok(), from.allows(t, actor, facts));
                    }
                }
            }
        }
        // Every row of the table is reachable by exactly its actors (Annul has two), with
        // and without a previous request (minus the once-only one).
        let rows: usize = TABLE.iter().map(|(_, t, _)| t.actors().len() * 2).sum();
        assert_eq!(allowed_count, rows - 1);
    }

    #[test]
    fn the_allowed_list_names_only_what_the_actor_may_do() {
        assert_eq!(
            S::InProgress.allowed(Actor::Operator, Facts::default()),
            vec![
                T::Take,
                T::Assign,
                T::HandOver,
                T::Note,
                T::Message,
                T::RequestIntegration,
                T::Decide
            ]
        );
        assert_eq!(
            S::InProgress.allowed(
                Actor::Operator,
                Facts {
                    integration_requested: true,
                    ..Facts::default()
                }
            ),
            vec![
                T::Take,
                T::Assign,
                T::HandOver,
                T::Note,
                T::Message,
                T::Decide
            ]
        );
        assert_eq!(
            S::AwaitingIntegration.allowed(Actor::Citizen, Facts::default()),
            vec![T::Withdraw, T::AnswerIntegration]
        );
        assert_eq!(
            S::Decided.allowed(Actor::Citizen, Facts::default()),
            Vec::<T>::new()
        );
        assert_eq!(
            S::Closed.allowed(Actor::ProtocolClerk, Facts::default()),
            vec![T::Annul]
        );
    }

    #[test]
    fn a_decided_instance_cannot_be_withdrawn_and_a_suspended_one_cannot_be_decided() {
        let f = Facts::default();
        assert!(!S::Decided.allows(T::Withdraw, Actor::Citizen, f));
        assert!(!S::AwaitingIntegration.allows(T::Decide, Actor::Operator, f));
        assert!(!S::AwaitingIntegration.allows(T::SilenceAssent, Actor::System, f));
        assert!(
            !S::Submitted.allows(T::Decide, Actor::Operator, f),
            "take it first"
        );
    }

    #[test]
    fn every_transition_names_its_actors_and_requirements() {
        for t in T::ALL {
            assert!(!t.actors().is_empty(), "{t:?}");
            assert_eq!(
                serde_json::to_value(t).unwrap(),
                serde_json::Value::from(t.as_str())
            );
        }
        assert_eq!(
            T::Decide.requires(),
            &[Requirement::Outcome, Requirement::Text]
        );
        assert_eq!(
            T::HandOver.requires(),
            &[Requirement::Office, Requirement::Reason]
        );
        assert_eq!(
            T::RequestIntegration.requires(),
            &[Requirement::Text, Requirement::Days]
        );
        assert!(T::Withdraw.requires().is_empty(), "the reason is optional");
    }

    #[test]
    fn every_status_and_outcome_reads_back_from_its_text() {
        for st in S::ALL {
            assert_eq!(S::parse(st.as_str()), Ok(st));
            assert_eq!(
                serde_json::to_value(st).unwrap(),
                serde_json::Value::from(st.as_str())
            );
            assert!(!st.label().is_empty());
        }
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
            assert_eq!(
                serde_json::to_value(o).unwrap(),
                serde_json::Value::from(o.as_str())
            );
        }
        assert_eq!(S::parse("Draft"), Err(UnknownStatus("Draft".into())));
        assert!(S::try_from(String::new()).is_err());
    }

    #[test]
    fn the_term_runs_only_before_a_decision_and_outside_a_suspension() {
        let running: Vec<S> = S::ALL.into_iter().filter(|s| s.term_runs()).collect();
        assert_eq!(running, vec![S::Submitted, S::InProgress]);
        let open: Vec<S> = S::ALL.into_iter().filter(|s| s.is_open()).collect();
        assert_eq!(
            open,
            vec![
                S::Submitted,
                S::InProgress,
                S::AwaitingIntegration,
                S::AwaitingCounterparties
            ]
        );
        let suspended: Vec<S> = S::ALL.into_iter().filter(|s| s.term_suspended()).collect();
        assert_eq!(
            suspended,
            vec![S::AwaitingIntegration, S::AwaitingCounterparties]
        );
    }

    #[test]
    fn counterparties_are_notified_once_and_only_on_a_foia_service() {
        let foia = Facts {
            foia: true,
            ..Facts::default()
        };
        let op = Actor::Operator;
        assert_eq!(
            S::InProgress.apply(T::NotifyCounterparties, op, foia),
            Ok(S::AwaitingCounterparties)
        );
        assert!(matches!(
            S::InProgress.apply(T::NotifyCounterparties, op, Facts::default()),
            Err(NotAllowed::State { .. })
        ));
        assert!(!S::InProgress
            .allowed(op, Facts::default())
            .contains(&T::NotifyCounterparties));
        let done = Facts {
            counterparties_notified: true,
            ..foia
        };
        assert!(matches!(
            S::InProgress.apply(T::NotifyCounterparties, op, done),
            Err(NotAllowed::OnlyOnce { .. })
        ));
        assert!(!S::InProgress
            .allowed(op, done)
            .contains(&T::NotifyCounterparties));
        assert!(!S::AwaitingCounterparties.allows(T::Decide, op, foia));
    }

    #[test]
    fn only_a_draft_past_its_expiry_is_expired() {
        let at = |h| {
            NaiveDate::from_ymd_opt(2026, 12, 1)
                .unwrap()
                .and_hms_opt(h, 0, 0)
                .unwrap()
        };
        let d = S::Draft;
        assert!(!d.is_expired(None, at(10)));
        assert!(!d.is_expired(Some(at(11)), at(10)));
        assert!(d.is_expired(Some(at(10)), at(10)), "expiry is inclusive");
        assert!(d.is_expired(Some(at(9)), at(10)));
        assert!(!S::Submitted.is_expired(Some(at(9)), at(10)));
    }
}
