//! Any bytes as a chunked body: the decoder never panics, and feeding the input in one
//! piece or in two (split where the first byte says) gives the same result.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringbolt::http::{ChunkedDecoder, ParseError};

/// Feeds `pieces` one after the other, the way a connection would: the decoded body,
/// whether it is done, and the input bytes consumed in total.
fn decode(pieces: &[&[u8]]) -> Result<(Vec<u8>, bool, usize), ParseError> {
    let (mut dec, mut out, mut pending, mut consumed) = (ChunkedDecoder::new(512), vec![], vec![], 0);
    for piece in pieces {
        pending.extend_from_slice(piece);
        let p = dec.decode(&pending, Some(&mut out))?;
        pending.drain(..p.consumed);
        consumed += p.consumed;
        assert_eq!(p.done, dec.is_done());
    }
    assert_eq!(dec.decoded(), out.len() as u64);
    Ok((out, dec.is_done(), consumed))
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else { return };
    let cut = usize::from(first) * (input.len() + 1) / 256;
    assert_eq!(decode(&[input]), decode(&[&input[..cut], &input[cut..]]));
});
