//! Citizens, keyed by codice fiscale within an ente. A citizen row is created at the first
//! login (SPID, CIE or the development login) and its contact data kept current from the
//! identity provider's attributes.

use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::citizens;
use crate::db::{now, write_tx, DbConn};
use crate::domain::codice_fiscale::CodiceFiscale;
use crate::domain::email::Email;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = citizens)]
pub struct Citizen {
    pub id: i64,
    pub ente_id: i64,
    pub codice_fiscale: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub email: Option<String>,
}

/// What an identity provider tells us about the person logging in.
#[derive(Debug, Clone)]
pub struct CitizenIdentity {
    pub codice_fiscale: CodiceFiscale,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub email: Option<Email>,
}

/// Finds the citizen or creates them; updates name and e-mail when the identity provider
/// sent values that differ (a missing attribute never erases what we have).
pub fn upsert(conn: &mut DbConn, ente_id: i64, who: &CitizenIdentity) -> QueryResult<Citizen> {
    write_tx(conn, |conn| {
        let existing: Option<Citizen> = citizens::table
            .filter(citizens::ente_id.eq(ente_id))
            .filter(citizens::codice_fiscale.eq(who.codice_fiscale.as_str()))
            .select(Citizen::as_select())
            .first(conn)
            .optional()?;
        let email = who.email.as_ref().map(|e| e.as_str().to_owned());
        let ts = now();
        match existing {
            None => {
                let id = diesel::insert_into(citizens::table)
                    .values((
                        citizens::ente_id.eq(ente_id),
                        citizens::codice_fiscale.eq(who.codice_fiscale.as_str()),
                        citizens::given_name.eq(&who.given_name),
                        citizens::family_name.eq(&who.family_name),
                        citizens::email.eq(&email),
                        citizens::created_at.eq(ts),
                        citizens::updated_at.eq(ts),
                    ))
                    .returning(citizens::id)
                    .get_result(conn)?;
                Ok(Citizen {
                    id,
                    ente_id,
                    codice_fiscale: who.codice_fiscale.as_str().to_owned(),
                    given_name: who.given_name.clone(),
                    family_name: who.family_name.clone(),
                    email,
                })
            }
            Some(mut c) => {
                let given = who.given_name.clone().or(c.given_name.clone());
                let family = who.family_name.clone().or(c.family_name.clone());
                let email = email.or(c.email.clone());
                if given != c.given_name || family != c.family_name || email != c.email {
                    diesel::update(citizens::table.find(c.id))
                        .set((
                            citizens::given_name.eq(&given),
                            citizens::family_name.eq(&family),
                            citizens::email.eq(&email),
                            citizens::updated_at.eq(ts),
                        ))
                        .execute(conn)?;
                    c.given_name = given;
                    c.family_name = family;
                    c.email = email;
                }
                Ok(c)
            }
        }
    })
}

pub fn find(conn: &mut DbConn, ente_id: i64, id: i64) -> QueryResult<Option<Citizen>> {
    citizens::table
        .filter(citizens::ente_id.eq(ente_id))
        .filter(citizens::id.eq(id))
        .select(Citizen::as_select())
        .first(conn)
        .optional()
}
