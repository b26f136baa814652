//! `docs upload|ls|rm|tag`. An upload sends files concurrently with one
//! bar per file in flight and a total, says which were duplicates, and with
//! `--wait` follows each ingestion to its end.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use reqwest::multipart::{Form, Part};
use reqwest::Method;
use serde_json::{json, Value};

use crate::client::{encode, Client};
use crate::follow::{self, status};
use crate::table::{self, Column};
use crate::{Outcome, Usage};

const DOC_COLUMNS: [Column; 6] = [
    ("ID", "/id"),
    ("TITLE", "/title"),
    ("TYPE", "/doc_type"),
    ("STATUS", "/status"),
    ("TAGS", "/tags"),
    ("CREATED", "/created_at"),
];

/// Most files one `upload` walks: a typo'd `/` stops here, not at the disk.
const MAX_FILES: usize = 100_000;

#[derive(Debug, Subcommand)]
pub enum Docs {
    /// Upload files, and every file under the directories given.
    Upload(Upload),
    /// List documents, newest first.
    Ls(Filter),
    /// Delete documents (their chunks and vectors go with them).
    Rm {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Add tags to documents (or remove them with --remove).
    Tag {
        #[arg(required = true)]
        ids: Vec<String>,
        /// A tag name; repeat for more.
        #[arg(long = "tag", required = true)]
        tags: Vec<String>,
        #[arg(long)]
        remove: bool,
    },
}

#[derive(Debug, Args)]
pub struct Upload {
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// A tag for every file; repeat for more.
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Wait until each document is ingested (or failed).
    #[arg(long)]
    wait: bool,
    /// Files sent at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=32))]
    concurrency: u16,
}

#[derive(Debug, Args)]
pub struct Filter {
    #[arg(long)]
    tag: Option<String>,
    /// `uploaded`, `ingesting`, `ingested` or `failed`.
    #[arg(long)]
    status: Option<String>,
    /// Text the title contains.
    #[arg(long)]
    q: Option<String>,
    #[arg(long)]
    cursor: Option<String>,
    #[arg(long, default_value_t = 20)]
    limit: u32,
}

pub async fn run(c: &Client, cmd: Docs, json: bool) -> Outcome {
    match cmd {
        Docs::Upload(args) => upload(c, args, json).await,
        Docs::Ls(f) => {
            let pairs = [
                ("tag", f.tag),
                ("status", f.status),
                ("q", f.q),
                ("cursor", f.cursor),
                ("limit", Some(f.limit.to_string())),
            ];
            let page = c.get_query("/v1/documents", &pairs).await?;
            table::print_page(&page, json, &DOC_COLUMNS);
            Ok(0)
        }
        Docs::Rm { ids } => {
            for id in &ids {
                c.delete(&format!("/v1/documents/{}", encode(id))).await?;
                if !json {
                    println!("deleted {id}");
                }
            }
            Ok(0)
        }
        Docs::Tag { ids, tags, remove } => {
            let op = if remove { "untag" } else { "tag" };
            let body = json!({"op": op, "selector": {"ids": ids}, "params": {"tags": tags}});
            super::misc::run_bulk(c, &body, json).await
        }
    }
}

/// The files named, with every regular file under a directory (each
/// directory's entries in order, links not followed, at most [`MAX_FILES`]).
pub fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Usage> {
    let mut out = Vec::new();
    let mut dirs = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| Usage(format!("{}: {e}", p.display())))?;
        if meta.is_dir() {
            dirs.push(p.clone());
        } else {
            out.push(p.clone());
        }
    }
    while let Some(dir) = dirs.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|e| Usage(format!("{}: {e}", dir.display())))?
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(|e| e.path());
        for e in entries {
            match e.file_type() {
                Ok(t) if t.is_dir() => dirs.push(e.path()),
                Ok(t) if t.is_file() => out.push(e.path()),
                _ => {}
            }
            if out.len() > MAX_FILES {
                return Err(Usage(format!("more than {MAX_FILES} files: upload fewer at once")));
            }
        }
    }
    Ok(out)
}

fn file_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix:24!} [{bar:24}] {bytes}/{total_bytes} {wide_msg}")
        .expect("template")
        .progress_chars("#>-")
}

async fn upload(c: &Client, args: Upload, json: bool) -> Outcome {
    let files = files(&args.paths)?;
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let total = multi.add(ProgressBar::new(files.len() as u64));
    total.set_style(
        ProgressStyle::with_template("{prefix:24} [{bar:24}] {pos}/{len} files {wide_msg}")?.progress_chars("#>-"),
    );
    total.set_prefix("total");
    let (multi, total_bar, tags) = (&multi, &total, &args.tags);
    let rows: Vec<Value> = futures::stream::iter(files)
        .map(|path| async move {
            let bar = multi.insert_before(total_bar, ProgressBar::new(0));
            bar.set_style(file_style());
            bar.set_prefix(path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
            let row = match upload_one(c, &path, tags, args.wait, &bar).await {
                Ok(row) => row,
                Err(e) => json!({"file": path.display().to_string(), "result": "error", "error": e.to_string()}),
            };
            bar.finish_and_clear();
            multi.remove(&bar);
            let _ = multi.println(format!(
                "{}: {}",
                row["file"].as_str().unwrap_or_default(),
                row["result"].as_str().unwrap_or_default()
            ));
            row
        })
        .buffer_unordered(args.concurrency as usize)
        .inspect(|_| total.inc(1))
        .collect()
        .await;
    total.finish_and_clear();
    let failed = rows.iter().filter(|r| matches!(r["result"].as_str(), Some("error" | "failed"))).count();
    let duplicates = rows.iter().filter(|r| r["duplicate"] == true).count();
    let summary = json!({"files": rows, "uploaded": rows.len() - failed - duplicates, "duplicates": duplicates, "failed": failed});
    if json {
        table::print_json(&summary);
    } else {
        let columns = [("FILE", "/file"), ("DOCUMENT", "/document"), ("RESULT", "/result"), ("ERROR", "/error")];
        table::print(&summary, false, "/files", &columns);
        println!("{} uploaded, {duplicates} duplicate(s) skipped, {failed} failed", summary["uploaded"]);
    }
    Ok(if failed == 0 { 0 } else { 1 })
}

/// Sends one file, its bytes counted on `bar`; with `wait`, follows its
/// ingestion. A row of the summary: file, document, result, error.
async fn upload_one(c: &Client, path: &Path, tags: &[String], wait: bool, bar: &ProgressBar) -> anyhow::Result<Value> {
    let file = tokio::fs::File::open(path).await?;
    let size = file.metadata().await?.len();
    bar.set_length(size);
    bar.set_message("uploading");
    // 64 KiB reads, each counted on the bar as it is sent.
    let chunks = tokio_util::io::ReaderStream::with_capacity(bar.wrap_async_read(file), 64 * 1024);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "file".into());
    let part = Part::stream_with_length(reqwest::Body::wrap_stream(chunks), size).file_name(name);
    let mut form = Form::new().part("file", part);
    if !tags.is_empty() {
        form = form.text("tags", tags.join(","));
    }
    let up = c.send(c.request(Method::POST, "/v1/documents").multipart(form)).await?;
    let file = path.display().to_string();
    let document = up["document"]["id"].clone();
    if up["duplicate"] == true {
        return Ok(json!({"file": file, "document": document, "result": "duplicate: skipped", "duplicate": true}));
    }
    let Some(job) = up["job"]["id"].as_str().filter(|_| wait) else {
        return Ok(json!({"file": file, "document": document, "result": "uploaded"}));
    };
    bar.set_message("ingesting");
    let done = follow::poll(c, job, bar, Duration::from_millis(300)).await?;
    let result = if status(&done) == "succeeded" { "ingested" } else { "failed" };
    Ok(json!({"file": file, "document": document, "result": result, "error": done["error"]["message"]}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_walked_in_order_and_a_missing_path_is_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        for f in ["b.txt", "a.md", "sub/c.pdf"] {
            std::fs::write(dir.path().join(f), "x").unwrap();
        }
        let found = files(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<_> = found.iter().map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string()).collect();
        assert_eq!(names, ["a.md", "b.txt", "sub/c.pdf"]);
        assert!(files(&[dir.path().join("nope")]).unwrap_err().0.contains("nope"));
    }
}
