//! The citizen rates the service once the office has answered their instance.
//!
//! Anonymous by construction: the `service_ratings` row carries the ente, the service, the
//! Italian month, the stars, the reason and the comment — nothing that names the citizen or
//! the instance, and a random id. "This instance was rated already" is the instance's own
//! `rated` flag, set in the same transaction. Nothing here logs the rating's content.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{instances as inst, service_ratings as sr};
use crate::db::DbConn;
use crate::db::{write_tx, DbError};
use crate::domain::calendar;
use crate::domain::rating::{may_be_rated, Rating};
use crate::instances::{load_own, CitizenCtx, InstanceError};

#[derive(Debug, thiserror::Error)]
pub enum RatingError {
    /// Not the citizen's instance (or no such instance).
    #[error("instance not found")]
    NotFound,
    /// The office has not answered yet.
    #[error("the instance has not been decided yet")]
    NotDecided,
    #[error("the instance was already rated")]
    AlreadyRated,
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<diesel::result::Error> for RatingError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.into())
    }
}

impl From<InstanceError> for RatingError {
    fn from(e: InstanceError) -> Self {
        match e {
            InstanceError::NotFound => Self::NotFound,
            InstanceError::Db(e) => Self::Db(e),
            other => Self::Other(anyhow::Error::new(other)),
        }
    }
}

/// The Italian month (`YYYY-MM`) of a UTC instant: the only time a rating keeps.
pub fn month_of(now: NaiveDateTime) -> String {
    calendar::rome_date(now).format("%Y-%m").to_string()
}

/// Records the citizen's rating of their instance's service, at `now` (the app's clock): in
/// one write transaction the instance is marked rated (only if it was not) and the anonymous
/// rating is stored.
pub fn rate(
    conn: &mut DbConn,
    ctx: CitizenCtx,
    instance_id: &str,
    rating: &Rating,
    now: NaiveDateTime,
) -> Result<(), RatingError> {
    write_tx(conn, |conn| {
        let row = load_own(conn, ctx, instance_id)?;
        if !may_be_rated(row.status) {
            return Err(RatingError::NotDecided);
        }
        let marked = diesel::update(
            inst::table
                .find(instance_id)
                .filter(inst::ente_id.eq(ctx.ente_id))
                .filter(inst::citizen_id.eq(ctx.citizen_id))
                .filter(inst::rated.eq(false)),
        )
        .set(inst::rated.eq(true))
        .execute(conn)?;
        if marked == 0 {
            return Err(RatingError::AlreadyRated);
        }
        diesel::insert_into(sr::table)
            .values((
                sr::id.eq(uuid::Uuid::new_v4().to_string()),
                sr::ente_id.eq(row.ente_id),
                sr::service_id.eq(row.service_id),
                sr::month.eq(month_of(now)),
                sr::stars.eq(rating.stars()),
                sr::reason.eq(rating.reason().as_str()),
                sr::comment.eq(rating.comment()),
            ))
            .execute(conn)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_month_is_italian() {
        let utc = |s| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        assert_eq!(month_of(utc("2026-11-30 22:59")), "2026-11");
        assert_eq!(month_of(utc("2026-11-30 23:00")), "2026-12");
        assert_eq!(month_of(utc("2026-12-31 23:30")), "2027-01");
    }
}
