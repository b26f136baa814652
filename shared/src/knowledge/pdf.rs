//! Glyphs out of a PDF page: the content stream is run through the text
//! state machine of PDF 32000-1 §9 (`Tm`, `Td`/`TD`/`T*`, `TJ` offsets,
//! `Tc`/`Tw`/`Tz`/`Ts`, `cm`, `q`/`Q`, form XObjects), and every glyph
//! comes out with its device-space position and advance, computed from the
//! font's widths (`Widths`/`FirstChar`, a CID font's `W`/`DW`, a Type 3
//! font's `FontMatrix`). [`super::layout`] turns them into lines and words.
//!
//! Text is decoded by lopdf's font encodings, with `ToUnicode` preferred
//! when a font has one. Hostile input is bounded: content streams by
//! lopdf's decompression limit, XObject nesting by [`MAX_FORM_DEPTH`],
//! glyphs per page by [`MAX_GLYPHS`], the graphics-state stack by
//! [`MAX_STACK`].

use std::collections::HashMap;

use lopdf::content::Content;
use lopdf::{Dictionary, Document, Encoding, Object, ObjectId};

/// Form XObjects nested deeper than this are not read.
pub const MAX_FORM_DEPTH: usize = 8;
/// Glyphs kept per page; a page with more is read up to here.
pub const MAX_GLYPHS: usize = 2_000_000;
/// `q` nested deeper than this saves nothing more (its `Q` restores the last kept).
pub const MAX_STACK: usize = 256;
/// Decompressed bytes read per content stream (lopdf's own default).
const MAX_CONTENT: usize = lopdf::DEFAULT_MAX_DECOMPRESSED_SIZE;

/// One glyph on a page, in device space (PDF points, y up).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Glyph {
    /// Where its text starts and ends in [`PageGlyphs::text`].
    pub start: u32,
    pub end: u32,
    /// Origin (left end of the baseline) and the baseline's right end.
    pub x0: f32,
    pub x1: f32,
    pub y: f32,
    /// Font size and the width of the font's space, both in device units.
    pub size: f32,
    pub space: f32,
}

/// The glyphs of a page, in the order the content stream draws them.
#[derive(Debug, Default)]
pub struct PageGlyphs {
    pub text: String,
    pub glyphs: Vec<Glyph>,
}

impl PageGlyphs {
    pub fn glyph_text(&self, g: &Glyph) -> &str {
        &self.text[g.start as usize..g.end as usize]
    }
}

/// An affine matrix `[a b c d e f]`, row-vector convention as in the spec.
#[derive(Debug, Clone, Copy)]
struct Matrix([f64; 6]);

impl Matrix {
    const IDENTITY: Matrix = Matrix([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);

    /// `self × other`: apply `self`, then `other`.
    fn then(&self, o: &Matrix) -> Matrix {
        let [a, b, c, d, e, f] = self.0;
        let [oa, ob, oc, od, oe, of] = o.0;
        Matrix([
            a * oa + b * oc,
            a * ob + b * od,
            c * oa + d * oc,
            c * ob + d * od,
            e * oa + f * oc + oe,
            e * ob + f * od + of,
        ])
    }

    fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        let [a, b, c, d, e, f] = self.0;
        (x * a + y * c + e, x * b + y * d + f)
    }

    fn translate(tx: f64, ty: f64) -> Matrix {
        Matrix([1.0, 0.0, 0.0, 1.0, tx, ty])
    }
}

/// Glyph widths of a font, in glyph space.
enum Widths {
    Simple { first: u32, widths: Vec<f64>, missing: f64 },
    Cid { default: f64, widths: HashMap<u32, f64> },
}

/// What the interpreter needs of a font.
struct Font<'a> {
    encoding: Option<Encoding<'a>>,
    /// Composite (Type 0) fonts use two-byte codes.
    two_byte: bool,
    widths: Widths,
    /// Glyph space to text space: 1/1000, or a Type 3 font's `FontMatrix`.
    scale: f64,
    /// The space's width in glyph space.
    space: f64,
    /// Decoded codes, so each code is decoded once per page.
    cache: HashMap<u32, String>,
}

impl Font<'_> {
    fn width(&self, code: u32) -> f64 {
        match &self.widths {
            Widths::Simple { first, widths, missing } => {
                code.checked_sub(*first).and_then(|i| widths.get(i as usize)).copied().unwrap_or(*missing)
            }
            Widths::Cid { default, widths } => widths.get(&code).copied().unwrap_or(*default),
        }
    }

    fn decode(&mut self, code: u32, bytes: &[u8]) -> &str {
        let encoding = &self.encoding;
        self.cache.entry(code).or_insert_with(|| match encoding {
            Some(enc) => enc.bytes_to_string(bytes).unwrap_or_default(),
            None => String::new(),
        })
    }
}

fn num(o: &Object) -> Option<f64> {
    match o {
        Object::Integer(i) => Some(*i as f64),
        Object::Real(r) => Some(*r as f64),
        _ => None,
    }
}

fn deref<'a>(doc: &'a Document, o: &'a Object) -> &'a Object {
    doc.dereference(o).map(|(_, o)| o).unwrap_or(o)
}

fn dict_of<'a>(doc: &'a Document, o: &'a Object) -> Option<&'a Dictionary> {
    match deref(doc, o) {
        Object::Dictionary(d) => Some(d),
        Object::Stream(s) => Some(&s.dict),
        _ => None,
    }
}

fn array_of<'a>(doc: &'a Document, o: &'a Object) -> &'a [Object] {
    match deref(doc, o) {
        Object::Array(a) => a,
        _ => &[],
    }
}

fn numbers(doc: &Document, o: &Object) -> Vec<f64> {
    array_of(doc, o).iter().map(|x| num(deref(doc, x)).unwrap_or(0.0)).collect()
}

/// A CID font's `W` array: `c [w1 w2 …]` or `c_first c_last w`, bounded.
fn cid_widths(doc: &Document, w: &[Object]) -> HashMap<u32, f64> {
    const MAX_ENTRIES: usize = 1 << 17;
    let mut out = HashMap::new();
    let mut i = 0;
    while i < w.len() && out.len() < MAX_ENTRIES {
        let Some(first) = num(deref(doc, &w[i])) else { break };
        match w.get(i + 1).map(|o| deref(doc, o)) {
            Some(Object::Array(list)) => {
                for (k, v) in list.iter().enumerate().take(MAX_ENTRIES) {
                    out.insert(first as u32 + k as u32, num(deref(doc, v)).unwrap_or(0.0));
                }
                i += 2;
            }
            Some(last) => {
                let (Some(last), Some(width)) = (num(last), w.get(i + 2).and_then(|o| num(deref(doc, o)))) else {
                    break;
                };
                let (first, last) = (first as u32, (last as u32).min(first as u32 + MAX_ENTRIES as u32));
                for c in first..=last {
                    out.insert(c, width);
                }
                i += 3;
            }
            None => break,
        }
    }
    out
}

/// The fonts of a resource dictionary, by resource name.
fn fonts<'a>(doc: &'a Document, resources: &[&'a Dictionary], owned: &'a [Dictionary]) -> HashMap<Vec<u8>, Font<'a>> {
    let mut out = HashMap::new();
    for res in resources {
        let Some(fonts) = res.get(b"Font").ok().and_then(|f| dict_of(doc, f)) else { continue };
        for (name, value) in fonts.iter() {
            if out.contains_key(name) {
                continue;
            }
            if let Some(dict) = dict_of(doc, value) {
                out.insert(name.clone(), font(doc, dict, owned));
            }
        }
    }
    out
}

fn font<'a>(doc: &'a Document, dict: &'a Dictionary, owned: &'a [Dictionary]) -> Font<'a> {
    let subtype = dict.get(b"Subtype").and_then(Object::as_name).unwrap_or(b"");
    // A `ToUnicode` map says what the glyphs mean better than an encoding's
    // glyph names: lopdf reads it first when the font is given as one.
    let to_unicode =
        dict.get(b"ToUnicode").ok().and_then(|t| owned.iter().find(|d| d.get(b"ToUnicode").ok() == Some(t)));
    let encoding = to_unicode
        .and_then(|d| d.get_font_encoding_with_limit(doc, MAX_CONTENT).ok())
        .or_else(|| dict.get_font_encoding_with_limit(doc, MAX_CONTENT).ok());
    if subtype == b"Type0" {
        let descendant =
            dict.get(b"DescendantFonts").ok().and_then(|d| array_of(doc, d).first()).and_then(|d| dict_of(doc, d));
        let default = descendant.and_then(|d| d.get(b"DW").ok()).and_then(|o| num(deref(doc, o))).unwrap_or(1000.0);
        let widths =
            descendant.and_then(|d| d.get(b"W").ok()).map(|w| cid_widths(doc, array_of(doc, w))).unwrap_or_default();
        // Codes of a CID font say nothing of which glyph is a space: the
        // usual quarter em.
        let widths = Widths::Cid { default, widths };
        return Font { encoding, two_byte: true, widths, scale: 0.001, space: 250.0, cache: HashMap::new() };
    }
    let scale = if subtype == b"Type3" {
        dict.get(b"FontMatrix").ok().map(|m| numbers(doc, m)).and_then(|m| m.first().copied()).unwrap_or(0.001)
    } else {
        0.001
    };
    let first = dict.get(b"FirstChar").ok().and_then(|o| num(deref(doc, o))).unwrap_or(0.0).max(0.0) as u32;
    let widths = dict.get(b"Widths").ok().map(|w| numbers(doc, w)).unwrap_or_default();
    let missing = dict
        .get(b"FontDescriptor")
        .ok()
        .and_then(|d| dict_of(doc, d))
        .and_then(|d| d.get(b"MissingWidth").ok())
        .and_then(|o| num(deref(doc, o)))
        .filter(|w| *w > 0.0)
        // No widths at all (a standard-14 font): an average glyph.
        .unwrap_or(if widths.is_empty() { 0.5 / scale.abs().max(1e-9) } else { 0.0 });
    let widths = Widths::Simple { first, widths, missing };
    let mut f = Font { encoding, two_byte: false, widths, scale, space: 0.0, cache: HashMap::new() };
    let space = f.width(32);
    f.space = if space > 0.0 { space } else { 0.25 / scale.abs().max(1e-9) };
    f
}

/// `ToUnicode`-only copies of the fonts that have both an encoding and a
/// `ToUnicode` map, so that lopdf decodes them by the map.
fn unicode_only(doc: &Document, resources: &[&Dictionary]) -> Vec<Dictionary> {
    let mut out = Vec::new();
    for res in resources {
        let Some(fonts) = res.get(b"Font").ok().and_then(|f| dict_of(doc, f)) else { continue };
        for (_, value) in fonts.iter() {
            let Some(dict) = dict_of(doc, value) else { continue };
            if let (Ok(t), true) = (dict.get(b"ToUnicode"), dict.has(b"Encoding")) {
                if dict.get(b"Subtype").and_then(Object::as_name).ok() != Some(b"Type0") {
                    let mut d = Dictionary::new();
                    d.set("Type", Object::Name(b"Font".to_vec()));
                    d.set("ToUnicode", t.clone());
                    out.push(d);
                }
            }
        }
    }
    out
}

/// The resource dictionaries of a page, nearest first.
fn page_resources(doc: &Document, page: ObjectId) -> Vec<&Dictionary> {
    let Ok((dict, ids)) = doc.get_page_resources(page) else { return Vec::new() };
    dict.into_iter().chain(ids.into_iter().filter_map(|id| doc.get_dictionary(id).ok())).collect()
}

#[derive(Clone)]
struct State {
    ctm: Matrix,
    font: Option<Vec<u8>>,
    size: f64,
    char_spacing: f64,
    word_spacing: f64,
    h_scale: f64,
    leading: f64,
    rise: f64,
}

struct Run<'a, 'd> {
    doc: &'d Document,
    out: &'a mut PageGlyphs,
    state: State,
    stack: Vec<State>,
    tm: Matrix,
    tlm: Matrix,
}

/// The glyphs of the page `page`.
pub fn page_glyphs(doc: &Document, page: ObjectId) -> lopdf::Result<PageGlyphs> {
    let content = doc.get_page_content_with_limit(page, MAX_CONTENT)?;
    let resources = page_resources(doc, page);
    let mut out = PageGlyphs::default();
    let state = State {
        ctm: Matrix::IDENTITY,
        font: None,
        size: 0.0,
        char_spacing: 0.0,
        word_spacing: 0.0,
        h_scale: 1.0,
        leading: 0.0,
        rise: 0.0,
    };
    let mut run = Run { doc, out: &mut out, state, stack: Vec::new(), tm: Matrix::IDENTITY, tlm: Matrix::IDENTITY };
    run.stream(&content, &resources, 0)?;
    Ok(out)
}

impl Run<'_, '_> {
    fn stream(&mut self, content: &[u8], resources: &[&Dictionary], depth: usize) -> lopdf::Result<()> {
        let ops = Content::decode(content)?.operations;
        let owned = unicode_only(self.doc, resources);
        let mut fonts = fonts(self.doc, resources, &owned);
        let n = |o: &[Object], i: usize| o.get(i).and_then(num).unwrap_or(0.0);
        for op in &ops {
            if self.out.glyphs.len() >= MAX_GLYPHS {
                break;
            }
            let o = &op.operands;
            match op.operator.as_str() {
                "q" => {
                    if self.stack.len() < MAX_STACK {
                        self.stack.push(self.state.clone());
                    }
                }
                "Q" => {
                    if let Some(s) = self.stack.pop() {
                        self.state = s;
                    }
                }
                "cm" if o.len() == 6 => {
                    let m = Matrix([n(o, 0), n(o, 1), n(o, 2), n(o, 3), n(o, 4), n(o, 5)]);
                    self.state.ctm = m.then(&self.state.ctm);
                }
                "BT" => {
                    self.tm = Matrix::IDENTITY;
                    self.tlm = Matrix::IDENTITY;
                }
                "Tf" => {
                    self.state.font = o.first().and_then(|f| f.as_name().ok()).map(<[u8]>::to_vec);
                    self.state.size = n(o, 1);
                }
                "Tc" => self.state.char_spacing = n(o, 0),
                "Tw" => self.state.word_spacing = n(o, 0),
                "Tz" => self.state.h_scale = n(o, 0) / 100.0,
                "TL" => self.state.leading = n(o, 0),
                "Ts" => self.state.rise = n(o, 0),
                "Td" => self.next_line(n(o, 0), n(o, 1)),
                "TD" => {
                    self.state.leading = -n(o, 1);
                    self.next_line(n(o, 0), n(o, 1));
                }
                "Tm" if o.len() == 6 => {
                    self.tm = Matrix([n(o, 0), n(o, 1), n(o, 2), n(o, 3), n(o, 4), n(o, 5)]);
                    self.tlm = self.tm;
                }
                "T*" => self.next_line(0.0, -self.state.leading),
                "Tj" => self.show(&mut fonts, o.first()),
                "'" => {
                    self.next_line(0.0, -self.state.leading);
                    self.show(&mut fonts, o.first());
                }
                "\"" => {
                    self.state.word_spacing = n(o, 0);
                    self.state.char_spacing = n(o, 1);
                    self.next_line(0.0, -self.state.leading);
                    self.show(&mut fonts, o.get(2));
                }
                "TJ" => {
                    for item in o.first().and_then(|a| a.as_array().ok()).map(Vec::as_slice).unwrap_or(&[]) {
                        match num(item) {
                            Some(adjust) => {
                                let tx = -adjust / 1000.0 * self.state.size * self.state.h_scale;
                                self.tm = Matrix::translate(tx, 0.0).then(&self.tm);
                            }
                            None => self.show(&mut fonts, Some(item)),
                        }
                    }
                }
                "Do" if depth < MAX_FORM_DEPTH => {
                    if let Some(name) = o.first().and_then(|f| f.as_name().ok()) {
                        self.form(name, resources, depth)?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn next_line(&mut self, tx: f64, ty: f64) {
        self.tlm = Matrix::translate(tx, ty).then(&self.tlm);
        self.tm = self.tlm;
    }

    /// Runs a form XObject named `name` with its own matrix and resources.
    fn form(&mut self, name: &[u8], resources: &[&Dictionary], depth: usize) -> lopdf::Result<()> {
        let doc = self.doc;
        let Some(xobject) = resources
            .iter()
            .filter_map(|r| r.get(b"XObject").ok().and_then(|x| dict_of(doc, x)))
            .find_map(|x| x.get(name).ok())
        else {
            return Ok(());
        };
        let Ok(stream) = deref(doc, xobject).as_stream() else { return Ok(()) };
        if stream.dict.get(b"Subtype").and_then(Object::as_name).ok() != Some(b"Form") {
            return Ok(());
        }
        let content = stream.decompressed_content_with_limit(MAX_CONTENT).unwrap_or_else(|_| stream.content.clone());
        let own = stream.dict.get(b"Resources").ok().and_then(|r| dict_of(doc, r));
        let inner: Vec<&Dictionary> = own.into_iter().chain(resources.iter().copied()).collect();
        let saved = (self.state.clone(), self.tm, self.tlm);
        if let Ok(m) = stream.dict.get(b"Matrix") {
            let m = numbers(doc, m);
            if m.len() == 6 {
                self.state.ctm = Matrix([m[0], m[1], m[2], m[3], m[4], m[5]]).then(&self.state.ctm);
            }
        }
        let result = self.stream(&content, &inner, depth + 1);
        (self.state, self.tm, self.tlm) = saved;
        // A broken form loses its own text, not the page's.
        if let Err(e) = result {
            tracing::debug!(error = %e, "a form XObject could not be read");
        }
        Ok(())
    }

    /// Shows a string: one glyph per character code.
    fn show(&mut self, fonts: &mut HashMap<Vec<u8>, Font<'_>>, string: Option<&Object>) {
        let Some(Object::String(bytes, _)) = string else { return };
        let Some(font) = self.state.font.as_ref().and_then(|f| fonts.get_mut(f)) else { return };
        let s = &self.state;
        let step = if font.two_byte { 2 } else { 1 };
        let mut i = 0;
        while i + step <= bytes.len() && self.out.glyphs.len() < MAX_GLYPHS {
            let code_bytes = &bytes[i..i + step];
            let code = code_bytes.iter().fold(0u32, |acc, b| acc * 256 + *b as u32);
            i += step;
            let w0 = font.width(code) * font.scale;
            let trm = Matrix([s.size * s.h_scale, 0.0, 0.0, s.size, 0.0, s.rise]).then(&self.tm).then(&s.ctm);
            let (x0, y) = trm.apply(0.0, 0.0);
            let (x1, _) = trm.apply(w0, 0.0);
            let [a, b, c, d, ..] = trm.0;
            let size = (c * c + d * d).sqrt();
            let space = font.space * font.scale * (a * a + b * b).sqrt();
            let text = font.decode(code, code_bytes);
            let start = self.out.text.len() as u32;
            self.out.text.push_str(text);
            self.out.glyphs.push(Glyph {
                start,
                end: self.out.text.len() as u32,
                x0: x0 as f32,
                x1: x1 as f32,
                y: y as f32,
                size: size as f32,
                space: space as f32,
            });
            let word = if step == 1 && code == 32 { s.word_spacing } else { 0.0 };
            let tx = (w0 * s.size + s.char_spacing + word) * s.h_scale;
            self.tm = Matrix::translate(tx, 0.0).then(&self.tm);
        }
    }
}
