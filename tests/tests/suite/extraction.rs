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
