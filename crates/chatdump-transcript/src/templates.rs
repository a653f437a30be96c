//! Loading the minijinja templates: defaults embedded in the binary, any of them overridden by a
//! file of the same name in a directory the user names.
//!
//! The file extension decides escaping: `*.html.jinja` escapes every value for HTML,
//! `*.md.jinja` escapes every value for Markdown (with the escaping function the format gives),
//! anything else is not escaped. Files that are not `*.jinja` (the HTML page's `*.css` and
//! `*.js`) are assets: read as they are, never rendered.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::fs;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chatdump_core::output::Sink;
use minijinja::value::{Object, Value};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, Output, State, UndefinedBehavior};

/// The autoescape name of Markdown templates.
const MARKDOWN: &str = "markdown";

/// An error loading templates.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The directory or a file in it could not be read.
    #[error("cannot read the template `{path}`")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A template does not compile.
    #[error("template `{name}` is invalid")]
    Syntax {
        /// The template's file name.
        name: String,
        /// minijinja's error, with the line.
        #[source]
        source: Error,
    },
}

/// Appends `text` to `out` escaped for the format (used for `*.md.jinja` templates).
pub type EscapeFn = fn(&str, &mut String);

/// The templates and assets of one format.
#[derive(Debug)]
pub struct Templates {
    /// The minijinja environment with every `*.jinja` template.
    pub environment: Environment<'static>,
    assets: BTreeMap<String, String>,
    /// The names of the files the user's directory supplied.
    overridden: BTreeSet<String>,
}

impl Templates {
    /// Loads `defaults` (name, source), then every file in `directory` (when given), which
    /// replaces the default of the same name or adds a template other templates can include.
    pub fn load(
        defaults: &[(&'static str, &'static str)],
        directory: Option<&Path>,
        markdown_escape: Option<EscapeFn>,
    ) -> Result<Self, TemplateError> {
        let mut sources: BTreeMap<String, String> = defaults
            .iter()
            .map(|(name, source)| ((*name).to_owned(), (*source).to_owned()))
            .collect();
        let mut overridden = BTreeSet::new();
        if let Some(directory) = directory {
            let read_error = |path: &Path, source| TemplateError::Read {
                path: path.to_owned(),
                source,
            };
            let mut entries = Vec::new();
            for entry in fs::read_dir(directory).map_err(|error| read_error(directory, error))? {
                let entry = entry.map_err(|error| read_error(directory, error))?;
                entries.push(entry.path());
            }
            entries.sort();
            for path in entries {
                let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
                    continue;
                };
                if name.starts_with('.') || !path.is_file() {
                    continue;
                }
                let source = fs::read_to_string(&path).map_err(|error| read_error(&path, error))?;
                sources.insert(name.to_owned(), source);
                overridden.insert(name.to_owned());
            }
        }
        let mut environment = Environment::new();
        // Templates are files: the newline that ends each one is part of the output.
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .map_err(|source| TemplateError::Syntax {
                name: String::new(),
                source,
            })?;
        environment.set_syntax(syntax);
        environment.set_undefined_behavior(UndefinedBehavior::Strict);
        environment.set_auto_escape_callback(|name| {
            if name.ends_with(".html.jinja") {
                AutoEscape::Html
            } else if name.ends_with(".md.jinja") {
                AutoEscape::Custom(MARKDOWN.into())
            } else {
                AutoEscape::None
            }
        });
        environment.set_formatter(move |out, state, value| {
            format_value(out, state, value, markdown_escape)
        });
        let mut assets = BTreeMap::new();
        for (name, source) in sources {
            if Path::new(&name)
                .extension()
                .is_some_and(|extension| extension == "jinja")
            {
                environment
                    .add_template_owned(name.clone(), source)
                    .map_err(|source| TemplateError::Syntax { name, source })?;
            } else {
                assets.insert(name, source);
            }
        }
        Ok(Self {
            environment,
            assets,
            overridden,
        })
    }

    /// Whether the template or asset `name` is the embedded default: the user's directory has
    /// no file by that name (a copy of the default in the directory counts as an override).
    #[must_use]
    pub fn is_default(&self, name: &str) -> bool {
        !self.overridden.contains(name)
    }

    /// An asset (a non-template file such as `transcript.css`), if there is one by that name.
    #[must_use]
    pub fn asset(&self, name: &str) -> Option<&str> {
        self.assets.get(name).map(String::as_str)
    }
}

/// Writes a value into a template's output: spooled text is copied from its file, Markdown
/// templates escape with the format's function, others use minijinja's own escaping.
fn format_value(
    out: &mut Output,
    state: &mut State,
    value: &Value,
    markdown_escape: Option<EscapeFn>,
) -> Result<(), Error> {
    if let Some(spooled) = value.downcast_object_ref::<Spooled>() {
        return match &spooled.marker {
            Some(marker) => out.write_str(marker).map_err(Error::from),
            None => spooled.copy_to(out),
        };
    }
    if matches!(state.auto_escape(), AutoEscape::Custom(name) if name == MARKDOWN) {
        if value.is_safe() {
            return out
                .write_str(value.as_str().unwrap_or_default())
                .map_err(Error::from);
        }
        if value.is_none() || value.is_undefined() {
            return Ok(());
        }
        let text = value.to_string();
        let mut escaped = String::with_capacity(text.len() + 8);
        match markdown_escape {
            Some(escape) => escape(&text, &mut escaped),
            None => escaped.push_str(&text),
        }
        return out.write_str(&escaped).map_err(Error::from);
    }
    minijinja::escape_formatter(out, state, value)
}

/// Text rendered ahead of time into a temporary file (the message body, the pinned list) and
/// copied into the page where a template writes it (`{{ messages }}`), so the page can show its
/// header first while memory holds only a buffer.
#[derive(Debug)]
pub struct Spooled {
    file: Mutex<fs::File>,
    /// Set by [`render_page`]: the template writes this instead of the text, and the page's
    /// output copies the file where it finds it.
    marker: Option<String>,
}

impl Spooled {
    /// Wraps a finished spool file.
    #[must_use]
    pub fn new(file: fs::File) -> Self {
        Self {
            file: Mutex::new(file),
            marker: None,
        }
    }

    /// Copies the file's bytes to `out` as they are (they are this crate's own UTF-8): read
    /// into whole buffers handed over with [`Sink::write_vec`], so that a [`BackgroundWriter`]
    /// takes them without copying (and gives back a spent one to read into next).
    ///
    /// [`BackgroundWriter`]: chatdump_core::output::BackgroundWriter
    fn copy_bytes(&self, out: &mut dyn Sink) -> io::Result<()> {
        let mut file = self
            .file
            .lock()
            .map_err(|_| io::Error::other("spool lock poisoned"))?;
        file.seek(SeekFrom::Start(0))?;
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            let want = buffer.capacity().max(SPOOL_BUFFER);
            buffer.reserve_exact(want);
            // `take` then `read_to_end`: reads into the spare capacity, without zeroing it.
            let read = (&mut *file)
                .take(u64::try_from(want).unwrap_or(u64::MAX))
                .read_to_end(&mut buffer)?;
            if read == 0 {
                return Ok(());
            }
            out.write_vec(&mut buffer)?;
        }
    }

    /// The value a template receives.
    #[must_use]
    pub fn into_value(self) -> Value {
        Value::from_object(self)
    }

    fn copy_to(&self, out: &mut dyn fmt::Write) -> Result<(), Error> {
        let read_error = |error: io::Error| {
            Error::new(
                ErrorKind::WriteFailure,
                "cannot read back the spooled transcript",
            )
            .with_source(error)
        };
        let mut file = self
            .file
            .lock()
            .map_err(|_| Error::new(ErrorKind::InvalidOperation, "spool lock poisoned"))?;
        file.seek(SeekFrom::Start(0)).map_err(read_error)?;
        let mut buffer = vec![0_u8; 64 << 10];
        let mut pending = 0;
        loop {
            let read = file.read(&mut buffer[pending..]).map_err(read_error)?;
            if read == 0 {
                break;
            }
            let filled = pending + read;
            // The spool holds UTF-8 written by this crate; a chunk may end inside a character,
            // which waits for the next one. A chunk is checked once (twice when it ends inside
            // a character).
            match std::str::from_utf8(&buffer[..filled]) {
                Ok(text) => {
                    out.write_str(text).map_err(Error::from)?;
                    pending = 0;
                }
                Err(error) if error.error_len().is_none() => {
                    let valid = error.valid_up_to();
                    let text = std::str::from_utf8(&buffer[..valid]).unwrap_or_default();
                    out.write_str(text).map_err(Error::from)?;
                    buffer.copy_within(valid..filled, 0);
                    pending = filled - valid;
                }
                Err(error) => {
                    return Err(read_error(io::Error::new(
                        io::ErrorKind::InvalidData,
                        error,
                    )));
                }
            }
        }
        Ok(())
    }
}

impl Object for Spooled {
    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result
    where
        Self: Sized + 'static,
    {
        self.copy_to(f).map_err(|_| fmt::Error)
    }
}

/// Renders the page `template` into `out` with `variables` and the `spooled` texts (each under
/// its name), copying each spooled file straight into `out` where the template writes it.
///
/// Straight, rather than through the template engine's text output, which would check the
/// bytes as UTF-8 and copy them once more: the body is nearly all of a transcript. The template
/// writes a marker instead of the text (a NUL, which no value from a dump contains, since
/// [`crate::text::clean_controls`] turns it into `␀`, and a number); the output finds the marker
/// in what the template writes and puts the file there.
pub fn render_page(
    template: &minijinja::Template<'_, '_>,
    mut variables: BTreeMap<&'static str, Value>,
    spooled: Vec<(&'static str, Spooled)>,
    out: &mut dyn Sink,
) -> Result<(), Error> {
    let mut spools = Vec::with_capacity(spooled.len());
    for (index, (name, mut spool)) in spooled.into_iter().enumerate() {
        spool.marker = Some(format!("\u{0}chatdump-spool-{index}\u{0}"));
        let spool = Arc::new(spool);
        variables.insert(name, Value::from_dyn_object(spool.clone()));
        spools.push(spool);
    }
    let mut page = PageOutput { out, spools };
    template.render_captured_to(Value::from(variables), &mut page)?;
    Ok(())
}

/// The output of [`render_page`]: passes text on, and copies a spool file where its marker is.
struct PageOutput<'a> {
    out: &'a mut dyn Sink,
    spools: Vec<Arc<Spooled>>,
}

impl Write for PageOutput<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while let Some(at) = rest.iter().position(|&byte| byte == 0) {
            let found = self.spools.iter().find_map(|spool| {
                let marker = spool.marker.as_deref()?;
                rest[at..]
                    .starts_with(marker.as_bytes())
                    .then_some((spool, marker.len()))
            });
            if let Some((spool, length)) = found {
                self.out.write_all(&rest[..at])?;
                spool.copy_bytes(self.out)?;
                rest = &rest[at + length..];
            } else {
                self.out.write_all(&rest[..=at])?;
                rest = &rest[at + 1..];
            }
        }
        self.out.write_all(rest)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// The buffer size of a [`Spool`]: writes this large or larger go to the file directly.
pub(crate) const SPOOL_BUFFER: usize = 256 << 10;

/// A temporary file that rendered text is appended to, read back with [`Spooled`].
#[derive(Debug)]
pub struct Spool {
    writer: BufWriter<fs::File>,
}

impl Spool {
    /// Creates an empty spool in `dir` (the system temporary directory when `None`); the file
    /// has no name and vanishes when dropped.
    pub fn new(dir: Option<&std::path::Path>) -> io::Result<Self> {
        Ok(Self {
            writer: BufWriter::with_capacity(SPOOL_BUFFER, chatdump_core::temp::temp_file(dir)?),
        })
    }

    /// The writer to render into.
    pub fn writer(&mut self) -> &mut BufWriter<fs::File> {
        &mut self.writer
    }

    /// Flushes and returns the text for a template.
    pub fn finish(self) -> io::Result<Spooled> {
        let file = self
            .writer
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        Ok(Spooled::new(file))
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

/// Formats a minijinja error with its chain (template name and line included), for messages.
#[must_use]
pub fn describe(error: &Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shout(text: &str, out: &mut String) {
        out.push_str(&text.to_uppercase());
    }

    #[test]
    fn escaping_follows_the_extension() {
        let templates = Templates::load(
            &[
                ("a.html.jinja", "{{ x }}"),
                ("a.md.jinja", "{{ x }}|{{ y }}|{{ x|safe }}"),
                ("a.css", "p { color: red }"),
            ],
            None,
            Some(shout),
        )
        .unwrap();
        let env = &templates.environment;
        let context = minijinja::context! { x => "<b>", y => Value::from(()) };
        assert_eq!(
            env.get_template("a.html.jinja")
                .unwrap()
                .render(&context)
                .unwrap(),
            "&lt;b&gt;"
        );
        assert_eq!(
            env.get_template("a.md.jinja")
                .unwrap()
                .render(&context)
                .unwrap(),
            "<B>||<b>"
        );
        assert_eq!(templates.asset("a.css"), Some("p { color: red }"));
        assert!(env.get_template("a.css").is_err());
    }

    #[test]
    fn directory_overrides_by_name() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.html.jinja"), "override {{ x }}").unwrap();
        fs::write(dir.path().join("part.html.jinja"), "[part]").unwrap();
        fs::write(
            dir.path().join("b.html.jinja"),
            "{% include 'part.html.jinja' %}",
        )
        .unwrap();
        let templates = Templates::load(
            &[("a.html.jinja", "default"), ("b.html.jinja", "b")],
            Some(dir.path()),
            None,
        )
        .unwrap();
        let env = &templates.environment;
        let render = |name| {
            env.get_template(name)
                .unwrap()
                .render(minijinja::context! { x => 1 })
                .unwrap()
        };
        assert_eq!(render("a.html.jinja"), "override 1");
        assert_eq!(render("b.html.jinja"), "[part]");
        assert!(!templates.is_default("a.html.jinja"));
        assert!(!templates.is_default("part.html.jinja"));
        let defaults = Templates::load(&[("a.html.jinja", "default")], None, None).unwrap();
        assert!(defaults.is_default("a.html.jinja"));
        fs::write(dir.path().join("bad.md.jinja"), "{% if %}").unwrap();
        let error = Templates::load(&[], Some(dir.path()), None).unwrap_err();
        assert!(error.to_string().contains("bad.md.jinja"), "{error}");
    }

    /// The page copies spool files where the template writes them, as often as it does, and
    /// leaves other text alone, NUL characters included.
    #[test]
    fn render_page_copies_spools_in_place() {
        let spool = |text: &str| {
            let mut spool = Spool::new(None).unwrap();
            spool.write_all(text.as_bytes()).unwrap();
            spool.finish().unwrap()
        };
        let long = format!("a{}", "é".repeat(300_000));
        let templates = Templates::load(
            &[(
                "p.html.jinja",
                "<{{ body }}|{{ x }}|{{ pinned }}{{ body }}{% raw %}\u{0}chatdump-spool-0{% endraw %}>",
            )],
            None,
            None,
        )
        .unwrap();
        let mut out = Vec::new();
        render_page(
            &templates.environment.get_template("p.html.jinja").unwrap(),
            BTreeMap::from([("x", Value::from_safe_string("\u{0}1\u{0}".to_owned()))]),
            vec![("body", spool(&long)), ("pinned", spool("<li>"))],
            &mut out,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("<{long}|\u{0}1\u{0}|<li>{long}\u{0}chatdump-spool-0>")
        );
    }

    /// Through a background writer, which takes the spool's buffers whole and gives back its
    /// own (of another size) to read into next: every byte once, in order.
    #[test]
    fn render_page_hands_spools_to_a_background_writer() {
        let mut spool = Spool::new(None).unwrap();
        let long: String = (0..400_000_u32)
            .map(|n| char::from_u32(0x61 + n % 26).unwrap())
            .chain("é".chars().cycle().take(300_000))
            .collect();
        spool.write_all(long.as_bytes()).unwrap();
        let templates = Templates::load(&[("p.html.jinja", "<{{ body }}>")], None, None).unwrap();
        let file = tempfile::tempfile().unwrap();
        let mut out = chatdump_core::output::BackgroundWriter::with_buffers(
            file.try_clone().unwrap(),
            100_000,
            2,
        );
        render_page(
            &templates.environment.get_template("p.html.jinja").unwrap(),
            BTreeMap::new(),
            vec![("body", spool.finish().unwrap())],
            &mut out,
        )
        .unwrap();
        out.flush().unwrap();
        drop(out);
        let mut written = String::new();
        let mut file = file;
        file.seek(SeekFrom::Start(0)).unwrap();
        file.read_to_string(&mut written).unwrap();
        assert_eq!(written, format!("<{long}>"));
    }

    #[test]
    fn spooled_text_is_copied_in_place() {
        let mut spool = Spool::new(None).unwrap();
        // The odd first byte makes every 64 KiB chunk end inside a character.
        let long = format!("a{}", "é".repeat(70_000));
        spool.write_all(long.as_bytes()).unwrap();
        let templates = Templates::load(&[("p.html.jinja", "<{{ body }}>")], None, None).unwrap();
        let page = templates
            .environment
            .get_template("p.html.jinja")
            .unwrap()
            .render(minijinja::context! { body => spool.finish().unwrap().into_value() })
            .unwrap();
        assert_eq!(page, format!("<{long}>"));
    }
}
