//! Raw SQL that is prepared once per connection and then reused. diesel's
//! `sql_query` is never cached: diesel-async prepares it afresh on every
//! call, a round trip and a parse and plan each time. A [`Statement`] has
//! fixed text and a marker type of its own, which is its key in the
//! connection's statement cache, so the hot path's statements (insert,
//! claim, complete, dispatch) cost one round trip each, and Postgres can
//! reuse a generic plan for them (see [`super::pool`] and
//! [`super::Plans`]).
//!
//! ```ignore
//! struct Claim;
//! Statement::<Claim>::new("UPDATE … WHERE id = ANY($1)").bind::<Array<Uuid>, _>(ids).load(conn)
//! ```

use std::marker::PhantomData;

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Untyped};
use diesel::QueryResult;

/// A statement with fixed text; `M` names it in the statement cache (one
/// marker type per text).
pub struct Statement<M> {
    sql: &'static str,
    marker: PhantomData<M>,
}

impl<M> Statement<M> {
    pub const fn new(sql: &'static str) -> Self {
        Self { sql, marker: PhantomData }
    }
}

/// A statement with its parameters bound so far, the last one `value` of
/// SQL type `ST`.
pub struct Bound<Q, ST, V> {
    query: Q,
    value: V,
    sql_type: PhantomData<ST>,
}

/// Binds the next parameter (`$1`, `$2`, … in order).
pub trait Bind: Sized {
    fn bind<ST, V>(self, value: V) -> Bound<Self, ST, V> {
        Bound { query: self, value, sql_type: PhantomData }
    }
}

impl<M> Bind for Statement<M> {}
impl<Q, ST, V> Bind for Bound<Q, ST, V> {}

impl<M> QueryFragment<Pg> for Statement<M> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(self.sql);
        Ok(())
    }
}

impl<Q, ST, V> QueryFragment<Pg> for Bound<Q, ST, V>
where
    Q: QueryFragment<Pg>,
    V: ToSql<ST, Pg>,
    Pg: HasSqlType<ST>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.query.walk_ast(out.reborrow())?;
        // The text names its parameters itself (`$1`, and `$2` twice, say).
        // diesel writes a placeholder of its own for each bind, and the
        // call that only collects the value is not public: the placeholder
        // goes into a comment after the statement, where it numbers the
        // bind and Postgres ignores it.
        out.push_sql(" /* ");
        out.push_bind_param::<ST, V>(&self.value)?;
        out.push_sql(" */");
        Ok(())
    }
}

impl<M: 'static> QueryId for Statement<M> {
    type QueryId = M;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<Q: QueryId, ST, V> QueryId for Bound<Q, ST, V> {
    type QueryId = Q::QueryId;
    const HAS_STATIC_QUERY_ID: bool = Q::HAS_STATIC_QUERY_ID;
}

impl<M> Query for Statement<M> {
    type SqlType = Untyped;
}

impl<Q, ST, V> Query for Bound<Q, ST, V> {
    type SqlType = Untyped;
}

/// The statement of [`advisory_xact_lock`].
pub struct AdvisoryXactLock;

/// `pg_advisory_xact_lock` on the hash of `key`: waits for the lock and
/// holds it until the transaction ends. Run it with `execute`.
pub fn advisory_xact_lock(key: String) -> Bound<Statement<AdvisoryXactLock>, diesel::sql_types::Text, String> {
    Statement::new("SELECT pg_advisory_xact_lock(hashtext($1))").bind(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::sql_types::{Integer, Text};

    struct Twice;

    #[test]
    fn the_text_keeps_its_own_placeholders_and_each_bind_is_numbered_in_a_comment() {
        let q = Statement::<Twice>::new("SELECT $1 + $1, $2").bind::<Integer, _>(2).bind::<Text, _>("x");
        let shown = diesel::debug_query::<Pg, _>(&q).to_string();
        assert_eq!(shown, r#"SELECT $1 + $1, $2 /* $1 */ /* $2 */ -- binds: [2, "x"]"#);
        assert_eq!(
            <Bound<Bound<Statement<Twice>, Integer, i32>, Text, &str> as QueryId>::query_id(),
            Some(std::any::TypeId::of::<Twice>())
        );
    }
}
