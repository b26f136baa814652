//! The knowledge base: where originals are kept ([`blob`]), how text comes
//! out of them ([`extract`]) and how it is cut into chunks ([`chunk`]).

pub mod blob;
pub mod chunk;
pub mod extract;
pub mod layout;
pub mod pdf;

pub use extract::{Block, DocType, ExtractError, Extracted, Page};
