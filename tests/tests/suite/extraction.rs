//! PDF text against a reference: PDFs written by five real producers
//! (groff + ghostscript, fpdf2, reportlab, cairo, LibreOffice) from
//! Debian's man pages, Chorus's words compared with pdfminer.six's by
//! `bench/ingest/quality.py` (the same comparison `just bench ingest`
//! reports).

use chorus_tests::binary;

#[test]
fn words_match_pdfminer_on_every_producer() {
    let Ok(python) = std::env::var("CHORUS_TEST_PYTHON") else {
        eprintln!("CHORUS_TEST_PYTHON is not set (no python3): extraction quality not checked");
        return;
    };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let script = root.join("bench/ingest/quality.py");
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&std::ffi::OsStr]| {
        let out = std::process::Command::new(&python).arg(&script).args(args).output().unwrap();
        assert!(out.status.success(), "quality.py: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let made = run(&["make".as_ref(), dir.path().as_os_str()]);
    let report = run(&["compare".as_ref(), dir.path().as_os_str(), binary("bench_ingest").as_os_str()]);
    let rows: Vec<serde_json::Value> = report.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let producers: Vec<&str> = rows.iter().map(|r| r["producer"].as_str().unwrap()).collect();
    for p in ["groff-ssh", "fpdf2", "reportlab", "cairo", "libreoffice"] {
        assert!(producers.contains(&p), "no PDF from {p} (made: {made}); scripts/deps.sh and pyenv.sh install them");
    }
    // The man page's running header is in the preview, not in the chunks.
    let ssh = dir.path().join("groff-ssh.pdf");
    let out = std::process::Command::new(binary("bench_ingest")).arg("text").arg(&ssh).output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let header = "BSD General Commands Manual";
    assert!(doc["text"].as_str().unwrap().matches(header).count() > 3, "{doc}");
    assert!(!doc["body"].as_str().unwrap().contains(header), "the header is kept out of the body");
    for r in &rows {
        assert!(r["ref_words"].as_u64().unwrap() > 500, "{r}");
        let (recall, precision) = (r["recall"].as_f64().unwrap(), r["precision"].as_f64().unwrap());
        assert!(recall >= 0.99 && precision >= 0.99, "below 99%: {r}");
    }
}

/// curl's man page as ghostscript writes it: long option names and URLs
/// make many more word pieces than words.
fn curl_pdf() -> Vec<u8> {
    let script = "zcat /usr/share/man/man1/curl.1.gz | groff -mandoc -Tps | ps2pdf - -";
    let out = std::process::Command::new("bash").args(["-c", script]).output().unwrap();
    assert!(out.status.success() && out.stdout.starts_with(b"%PDF"), "groff/ps2pdf: {out:?}");
    out.stdout
}

#[test]
fn no_chunk_exceeds_the_models_window() {
    use chorus_shared::knowledge::chunk::{chunk, ChunkSettings, Estimate};
    use chorus_shared::knowledge::extract::{extract, DocType, Limits};
    let models = std::env::var("CHORUS_TEST_MODELS").expect("CHORUS_TEST_MODELS is not set: run `just test`");
    let settings =
        chorus_shared::config::EmbedSettings { model_dir: format!("{models}/all-MiniLM-L6-v2"), ..Default::default() };
    let window = settings.max_length;
    let doc = extract(&curl_pdf(), DocType::Pdf, Limits::default()).unwrap();
    // What the model sees: word pieces with its two special tokens.
    // (Its file pads and truncates to 128; fastembed pads to the batch's
    // longest text and truncates at `max_length`.)
    let mut model = tokenizers::Tokenizer::from_file(format!("{}/tokenizer.json", settings.model_dir)).unwrap();
    model.with_truncation(None).unwrap().with_padding(None);
    let seen = |text: &str| model.encode(text, true).unwrap().get_ids().len();
    let cut =
        |chunks: &[chorus_shared::knowledge::chunk::Chunk]| chunks.iter().filter(|c| seen(&c.text) > window).count();

    let counter = chorus_shared::embed::token_counter(&settings).expect("the model's tokenizer loads");
    let sized = chunk(&doc, ChunkSettings { size: window - 2, overlap: 32 }, counter.as_ref());
    assert!(sized.len() > 50, "{} chunks", sized.len());
    assert_eq!(cut(&sized), 0, "chunks longer than the model's window of {window} tokens");
    for c in &sized {
        assert_eq!(c.tokens + 2, seen(&c.text), "the stored count is the model's: {:?}", &c.text[..60]);
    }
    // The estimate, as chunks were sized before, lets some overflow.
    let estimated = chunk(&doc, ChunkSettings { size: window, overlap: 32 }, &Estimate);
    assert!(cut(&estimated) > 0, "the check would not have seen the old sizing");
}
