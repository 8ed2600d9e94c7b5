//! What the evaluating process and the process that started it say to each other, over the
//! child's standard input and output, in frames: a little-endian `u32` length, then that many
//! bytes. The parent's first frame is a [`Hello`] (the files it read and parsed), each next one
//! an input document as JSON text. The child answers the hello with [`Reply::Ready`], and each
//! input with one reply per policy file, in the set's order, stopping at the first failure: a
//! reply per file is how the parent knows which file a stopped evaluation was in. The child
//! sends an input's replies together when it is done with it, and those it has every
//! [`Hello::flush_every`] meanwhile: one write per plan, and the parent hears of a finished
//! file soon enough to time the next.

use std::io::{self, Read, Write};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::set::{Finding, Source};

/// Far beyond any plan's input or any policy's messages; a longer frame is a broken stream.
const MAX_FRAME: usize = 256 << 20;

/// The parsed files, in the set's order, and how often the child sends the replies it has
/// (see `crate::worker`).
#[derive(Serialize, Deserialize)]
pub(crate) struct Hello {
    pub sources: Vec<WireSource>,
    pub flush_every: Duration,
}

/// A [`Source`]; the path only names the file in the engine's messages, whose positions are
/// all that is read back, so it crosses as text.
#[derive(Serialize, Deserialize)]
pub(crate) struct WireSource {
    name: String,
    path: String,
    text: String,
    v0: bool,
    package: String,
}

impl From<&Source> for WireSource {
    fn from(s: &Source) -> WireSource {
        WireSource {
            name: s.name.clone(),
            path: s.path.display().to_string(),
            text: s.text.clone(),
            v0: s.v0,
            package: s.package.clone(),
        }
    }
}

impl From<WireSource> for Source {
    fn from(s: WireSource) -> Source {
        Source {
            name: s.name,
            path: s.path.into(),
            text: s.text,
            v0: s.v0,
            package: s.package,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Reply {
    /// The files are loaded; inputs may come.
    Ready,
    /// What one policy file's rules say of the input.
    Findings(Vec<Finding>),
    /// The policy failed, at this position when the engine gave one.
    Failed {
        line: Option<u32>,
        column: Option<u32>,
        message: String,
    },
    /// The input document did not parse (never seen: the parent printed it).
    BadInput(String),
}

/// Starts a frame in `buffer` (emptied), for [`end_frame`] once its payload is written after.
pub(crate) fn begin_frame(buffer: &mut Vec<u8>) {
    buffer.clear();
    buffer.extend_from_slice(&[0; 4]);
}

/// Writes the length of the payload written after [`begin_frame`] into its header.
pub(crate) fn end_frame(buffer: &mut [u8]) -> io::Result<()> {
    let length = u32::try_from(buffer.len().saturating_sub(4))
        .ok()
        .filter(|&n| n as usize <= MAX_FRAME)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "a frame too long to send"))?;
    if let Some(header) = buffer.get_mut(..4) {
        header.copy_from_slice(&length.to_le_bytes());
    }
    Ok(())
}

/// Writes `message` as one JSON frame, for a flush later.
pub(crate) fn write<T: Serialize>(out: &mut impl Write, buffer: &mut Vec<u8>, message: &T) -> io::Result<()> {
    begin_frame(buffer);
    serde_json::to_writer(&mut *buffer, message).map_err(io::Error::other)?;
    end_frame(buffer)?;
    out.write_all(buffer)
}

/// Writes `message` as one JSON frame and flushes it.
pub(crate) fn send<T: Serialize>(out: &mut impl Write, buffer: &mut Vec<u8>, message: &T) -> io::Result<()> {
    write(out, buffer, message)?;
    out.flush()
}

/// Reads the next frame's payload into `frame`; `false` at the end of the stream, between
/// frames.
pub(crate) fn read_frame(input: &mut impl Read, frame: &mut Vec<u8>) -> io::Result<bool> {
    let mut header = [0u8; 4];
    let mut got = 0;
    while got < header.len() {
        match input.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let length = u32::from_le_bytes(header) as usize;
    if length > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "a frame longer than any message",
        ));
    }
    frame.clear();
    frame.resize(length, 0);
    input.read_exact(frame)?;
    Ok(true)
}

/// Reads the next frame as a JSON message; `None` at the end of the stream.
pub(crate) fn receive<T: for<'de> Deserialize<'de>>(
    input: &mut impl Read,
    frame: &mut Vec<u8>,
) -> io::Result<Option<T>> {
    if !read_frame(input, frame)? {
        return Ok(None);
    }
    serde_json::from_slice(frame).map(Some).map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_cross_whole_and_the_end_is_seen_between_frames() {
        let mut stream = Vec::new();
        let mut buffer = Vec::new();
        send(&mut stream, &mut buffer, &Reply::Ready).expect("send");
        send(&mut stream, &mut buffer, &Reply::BadInput("x".into())).expect("send");
        let mut input = stream.as_slice();
        let mut frame = Vec::new();
        assert!(matches!(receive(&mut input, &mut frame), Ok(Some(Reply::Ready))));
        assert!(matches!(receive(&mut input, &mut frame), Ok(Some(Reply::BadInput(x))) if x == "x"));
        assert!(matches!(receive::<Reply>(&mut input, &mut frame), Ok(None)));
        // Cut inside a frame: an error, not the end.
        let mut cut = &stream[..stream.len() - 1];
        assert!(receive::<Reply>(&mut cut, &mut frame).is_ok());
        assert!(receive::<Reply>(&mut cut, &mut frame).is_err());
    }
}
