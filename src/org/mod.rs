//! The organisation of an ente: the ente itself, its AOO (protocol register owners), its
//! offices (where instances are routed) and its staff with their roles.

use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::{aoo, enti, offices, staff_roles, staff_users};
use crate::db::DbConn;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = enti)]
pub struct Ente {
    pub id: i64,
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = offices)]
pub struct Office {
    pub id: i64,
    pub ente_id: i64,
    pub aoo_id: i64,
    pub code: String,
    pub name: String,
    pub email: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = staff_users)]
pub struct StaffUser {
    pub id: i64,
    pub ente_id: i64,
    pub username: String,
    pub full_name: String,
    pub email: Option<String>,
    pub active: bool,
}

/// What a staff member may do, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Works the queue of one office.
    Operator,
    /// Reviews the protocol register of one AOO.
    ProtocolClerk,
    /// Configures the whole ente.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::ProtocolClerk => "protocol_clerk",
            Self::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "operator" => Some(Self::Operator),
            "protocol_clerk" => Some(Self::ProtocolClerk),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// One role grant with the office or AOO it applies to (by code, as the API shows it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RoleGrant {
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub office: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aoo: Option<String>,
    /// A protocol clerk who may annul registrations.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub annul: bool,
}

pub fn find_ente_by_code(conn: &mut DbConn, code: &str) -> QueryResult<Option<Ente>> {
    enti::table
        .filter(enti::code.eq(code))
        .select(Ente::as_select())
        .first(conn)
        .optional()
}

pub fn find_staff_by_username(
    conn: &mut DbConn,
    ente_id: i64,
    username: &str,
) -> QueryResult<Option<StaffUser>> {
    staff_users::table
        .filter(staff_users::ente_id.eq(ente_id))
        .filter(staff_users::username.eq(username))
        .select(StaffUser::as_select())
        .first(conn)
        .optional()
}

/// The staff user of an ente with this e-mail (case-insensitive).
pub fn find_staff_by_email(
    conn: &mut DbConn,
    ente_id: i64,
    email: &str,
) -> QueryResult<Option<StaffUser>> {
    let wanted = email.trim().to_lowercase();
    Ok(staff_users::table
        .filter(staff_users::ente_id.eq(ente_id))
        .select(StaffUser::as_select())
        .load(conn)?
        .into_iter()
        .find(|u| u.email.as_deref().map(|e| e.trim().to_lowercase()) == Some(wanted.clone())))
}

pub fn find_staff(conn: &mut DbConn, ente_id: i64, id: i64) -> QueryResult<Option<StaffUser>> {
    staff_users::table
        .filter(staff_users::ente_id.eq(ente_id))
        .filter(staff_users::id.eq(id))
        .select(StaffUser::as_select())
        .first(conn)
        .optional()
}

/// The roles of a staff member, with office and AOO codes resolved.
pub fn staff_grants(conn: &mut DbConn, staff_user_id: i64) -> QueryResult<Vec<RoleGrant>> {
    let rows: Vec<(String, Option<String>, Option<String>, bool)> = staff_roles::table
        .left_join(offices::table.on(staff_roles::office_id.eq(offices::id.nullable())))
        .left_join(aoo::table.on(staff_roles::aoo_id.eq(aoo::id.nullable())))
        .filter(staff_roles::staff_user_id.eq(staff_user_id))
        .order(staff_roles::id)
        .select((
            staff_roles::role,
            offices::code.nullable(),
            aoo::code.nullable(),
            staff_roles::can_annul,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(role, office, aoo, annul)| {
            Role::parse(&role).map(|role| RoleGrant {
                role,
                office,
                aoo,
                annul,
            })
        })
        .collect())
}
