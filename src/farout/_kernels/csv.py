"""Compiled kernels for CSV files of numbers: read the numeric fields of
whole lines straight into a float array, and write each input line back
with the results appended.

They are accelerators, not a second CSV dialect. :func:`parse_numbers`
takes only plain numbers and empty fields, and gives up on anything else
(quotes, ``NA`` words, spaces, a wrong field count, blank lines): the
caller then parses that block with pandas, whose rules and error messages
stay the reference. Every number it converts is correctly rounded (the
exact fast path: at most 15 significant digits and a power of ten up to
22, one IEEE multiplication or division); longer numbers are listed for
the caller to convert with Python's ``float``.

Where pandas' result depends on the rest of the block it can differ: pandas
reads a column of integers as int64, so ``-0`` there is 0 (this parser too)
but a ``-0`` among floats is -0.0 (this parser: 0); integers beyond 64 bits
make pandas read the column as text, this parser as numbers.
"""

import numba
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["count_lines", "format_scores", "parse_numbers", "splice_results"]

_POW10 = np.array([10.0**e for e in range(23)])
_FAIL = -1
_WORDS = np.frombuffer(b"truefalse", dtype=np.uint8)
_WORD_OFFSETS = np.array([0, 4, 9], dtype=np.int64)


@numba.njit(nogil=True, cache=True)
def _scan_lines(data, stop):
    count = 0
    high = 0
    for i in range(stop):
        count += data[i] == 10
        high |= data[i]
    return count, high >= 128


def count_lines(buffer, stop):
    """``(line feeds, ascii)`` of ``buffer[:stop]``: the number of line
    feeds and whether every byte is ASCII, in one vectorised pass
    (``bytearray.count`` alone took 0.8 ns a byte)."""
    count, high = _scan_lines(np.frombuffer(buffer, dtype=np.uint8), stop)
    return int(count), not high


@numba.njit(nogil=True, cache=True)
def _parse_numbers(body, column_of_field, out, slow, pow10, line_ends):
    n = body.shape[0]
    n_fields = column_of_field.shape[0]
    i = line = n_slow = 0
    while i < n:
        if line >= out.shape[0]:
            return _FAIL - line, n_slow  # more lines than the caller counted
        if body[i] == 10 or body[i] == 13:
            return _FAIL - line, n_slow  # a blank line: pandas skips it
        f = 0
        while True:
            if f >= n_fields:
                return _FAIL - line, n_slow  # more fields than the header
            col = column_of_field[f]
            start = i
            if col < 0:
                while body[i] != 44 and body[i] != 10 and body[i] != 13:
                    if body[i] == 34:
                        return _FAIL - line, n_slow  # quoted: pandas' rules
                    i += 1
            else:
                negative = body[i] == 45
                if negative or body[i] == 43:
                    i += 1
                # one loop over digits and the decimal point (two loops with
                # per-digit branches were 25% slower)
                mantissa = 0
                n_digits = 0
                leading = 0  # zeros before the first significant digit
                dot = -1
                while True:
                    d = np.uint64(body[i]) - np.uint64(48)  # wraps: one compare
                    if d <= 9:
                        mantissa = mantissa * 10 + np.int64(d)
                        n_digits += 1
                        leading += (d == 0) & (leading == n_digits - 1)
                    elif body[i] == 46 and dot < 0:
                        dot = n_digits
                    else:
                        break
                    i += 1
                exp10 = 0 if dot < 0 else dot - n_digits
                integer = dot < 0  # no decimal point and no exponent
                if n_digits and (body[i] == 101 or body[i] == 69):
                    integer = False
                    i += 1
                    sign = 1
                    if body[i] == 45 or body[i] == 43:
                        sign = -1 if body[i] == 45 else 1
                        i += 1
                    if not 48 <= body[i] <= 57:
                        return _FAIL - line, n_slow
                    e = 0
                    while 48 <= body[i] <= 57:
                        if e < 100_000:
                            e = e * 10 + (body[i] - 48)
                        i += 1
                    exp10 += sign * e
                if body[i] != 44 and body[i] != 10 and body[i] != 13:
                    return _FAIL - line, n_slow  # not a plain number
                # the mantissa may have overflowed past 19 digits: then more
                # than 15 are significant and the slow path reads the text
                significant = n_digits - leading
                if n_digits == 0:
                    if i != start:
                        return _FAIL - line, n_slow  # a lone sign or dot
                    out[line, col] = np.nan  # empty field: missing, as in pandas
                elif significant == 0:
                    # pandas reads "-0" as the integer 0 (in a column of
                    # integers) and "-0.0" as -0.0
                    out[line, col] = -0.0 if negative and not integer else 0.0
                elif significant <= 15 and -22 <= exp10 <= 22:
                    value = np.float64(mantissa)
                    if exp10 >= 0:
                        value *= pow10[exp10]
                    else:
                        value /= pow10[-exp10]
                    out[line, col] = -value if negative else value
                else:
                    if n_slow >= slow.shape[0]:
                        return _FAIL - line, n_slow
                    slow[n_slow, 0] = line
                    slow[n_slow, 1] = col
                    slow[n_slow, 2] = start
                    slow[n_slow, 3] = i
                    n_slow += 1
                    out[line, col] = np.nan
            f += 1
            if body[i] == 44:
                i += 1
                continue
            if body[i] == 13:
                if i + 1 >= n or body[i + 1] != 10:
                    return _FAIL - line, n_slow
                i += 1
            line_ends[line] = i  # the line feed
            i += 1
            if f != n_fields:
                return _FAIL - line, n_slow  # fewer fields than the header
            line += 1
            break
    return line, n_slow


def parse_numbers(body, n_lines, column_of_field, max_slow=None, out=None, line_ends=None):
    r"""The numeric fields of ``body`` (bytes-like, whole lines, each ended
    by a line feed) as a float64 array of shape (n_lines, n_columns), or
    None when a line is not plain numbers (parse it with pandas instead).

    ``column_of_field[f]`` is the output column of field ``f``, or -1 for a
    field to skip (it may hold any text without quotes). Empty fields are
    NaN; an empty line (also in a one-column file) makes the result None,
    as pandas skips it. Numbers with more than 15 significant digits or a large exponent
    are converted by Python's ``float``, up to ``max_slow`` of them (default:
    one field in 50); beyond that the result is None. ``out``, a float64
    array with enough rows and columns, is filled (its leading rows) instead
    of a new array. ``line_ends``, an int64 array of at least ``n_lines``,
    receives the position of each line's line feed (for
    :func:`splice_results`).

    >>> parse_numbers(b"1.5,x,-2e3\n,y,7\n", 2, [0, -1, 1]).tolist()
    [[1.5, -2000.0], [nan, 7.0]]
    """
    data = np.frombuffer(body, dtype=np.uint8)
    if data.shape[0] == 0 or data[-1] != 10:
        return None
    columns = np.asarray(column_of_field, dtype=np.int64)
    n_out = int(columns.max()) + 1 if columns.size else 0
    if out is None or out.shape[0] < n_lines or out.shape[1] != n_out:
        out = np.empty((n_lines, n_out))
    out = out[:n_lines]
    if max_slow is None:
        max_slow = n_lines * n_out // 50 + 16
    slow = np.empty((max_slow, 4), dtype=np.int64)
    if line_ends is None or line_ends.shape[0] < n_lines:
        line_ends = np.empty(n_lines, dtype=np.int64)
    parsed, n_slow = _parse_numbers(data, columns, out, slow, _POW10, line_ends)
    if parsed != n_lines:
        return None
    for line, col, start, stop in slow[:n_slow]:
        out[line, col] = float(bytes(data[start:stop]))
    return out


@numba.njit(nogil=True, cache=True)
def _put_text(out, k, data, offsets, row, quote):
    """Copy text ``row`` of an Arrow-style string array; in quotes (inner
    quotes doubled) when ``quote`` and the text is not empty."""
    start, stop = offsets[row], offsets[row + 1]
    if quote and stop > start:
        out[k] = 34
        k += 1
        for t in range(start, stop):
            out[k] = data[t]
            k += 1
            if data[t] == 34:
                out[k] = 34
                k += 1
        out[k] = 34
        return k + 1
    for t in range(start, stop):
        out[k] = data[t]
        k += 1
    return k


@numba.njit(nogil=True, cache=True)
def _splice_results(
    body, score_data, score_offsets, flags, tier, tier_data, tier_offsets, clusters,
    reason, reason_data, reason_offsets, line_ends, out,
):  # fmt: skip
    k = start = 0
    digits = np.empty(20, dtype=np.uint8)
    for row in range(line_ends.shape[0]):
        i = line_ends[row]
        stop = i - 1 if i > start and body[i - 1] == 13 else i
        out[k : k + stop - start] = body[start:stop]
        k += stop - start
        start = i + 1
        out[k] = 44
        k = _put_text(out, k + 1, score_data, score_offsets, row, False)
        out[k] = 44
        k += 1
        if flags[row]:
            k = _put_text(out, k, _WORDS, _WORD_OFFSETS, 0, False)  # true
        else:
            k = _put_text(out, k, _WORDS, _WORD_OFFSETS, 1, False)  # false
        out[k] = 44
        k += 1
        if tier[row] >= 0:
            k = _put_text(out, k, tier_data, tier_offsets, tier[row], True)
        out[k] = 44
        k += 1
        value = clusters[row]
        if value < 0:
            out[k] = 45
            k += 1
            value = -value
        m = 0
        while True:
            digits[m] = 48 + value % 10
            m += 1
            value //= 10
            if value == 0:
                break
        for t in range(m):
            out[k] = digits[m - 1 - t]
            k += 1
        out[k] = 44
        if reason[row] >= 0:
            k = _put_text(out, k + 1, reason_data, reason_offsets, reason[row], True)
        else:
            k += 1
        out[k] = 10
        k += 1
    return k


def _text_buffers(texts):
    """(bytes, offsets) of a sequence of str, Arrow's string layout."""
    encoded = [t.encode("utf-8") for t in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(t) for t in encoded], out=offsets[1:])
    return np.frombuffer(b"".join(encoded) or b"\0", dtype=np.uint8), offsets


@numba.njit(nogil=True, cache=True)
def _split_json_numbers(text, data, offsets):
    """The numbers of a flat JSON array ``[a,b,...]`` as Arrow-style string
    buffers: ``data`` without the brackets and commas, and ``offsets``."""
    k = 0
    row = 0
    offsets[0] = 0
    for i in range(1, text.shape[0] - 1):
        if text[i] == 44:
            row += 1
            offsets[row] = k
        else:
            data[k] = text[i]
            k += 1
    offsets[row + 1] = k


def format_scores(scores):
    """Each score as its shortest round-trip decimal text (the digits of
    Python's ``repr``), as (bytes, offsets) string buffers.

    orjson's Ryu formatting takes 2 ms per 100,000 floats where Arrow's cast
    took 18; it writes non-finite values as ``null``, so those go through
    Arrow's cast (``nan``, ``inf``).

    >>> data, offsets = format_scores(np.array([0.5, 12.25, 1e-7]))
    >>> [bytes(data[a:b]) for a, b in zip(offsets[:-1], offsets[1:])]
    [b'0.5', b'12.25', b'1e-7']
    """
    scores = np.ascontiguousarray(scores, dtype=np.float64)
    if np.isfinite(scores).all():
        text = np.frombuffer(
            orjson.dumps(scores, option=orjson.OPT_SERIALIZE_NUMPY), dtype=np.uint8
        )
        data = np.empty(max(text.shape[0], 1), dtype=np.uint8)
        offsets = np.empty(scores.shape[0] + 1, dtype=np.int64)
        if scores.shape[0]:
            _split_json_numbers(text, data, offsets)
        else:
            offsets[0] = 0
        return data, offsets
    cast = pc.cast(pa.array(scores), pa.string())
    buffers = cast.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int32)[: scores.shape[0] + 1].astype(np.int64)
    return np.frombuffer(buffers[2], dtype=np.uint8), offsets


def splice_results(
    body,
    scores,
    flags,
    tier,
    tier_names,
    clusters,
    reason,
    reason_texts,
    buffer=None,
    line_ends=None,
):
    r"""Each line of ``body`` with ``,score,flag,severity,cluster,reason``
    appended, in one pass: the input's own text is copied, never re-parsed
    or re-formatted.

    ``scores`` are floats (written by :func:`format_scores`),
    ``flags`` booleans, ``clusters`` integers; ``tier`` indexes
    ``tier_names`` and ``reason`` indexes ``reason_texts`` for each row
    (-1: an empty field). Texts are quoted, as Arrow's CSV writer quotes
    strings. Writes into ``buffer`` (a bytearray) when it is large enough,
    else into a new one; returns ``(buffer, bytes used)``. ``line_ends``
    (from :func:`parse_numbers`) spares the search for line feeds.

    >>> buf, used = splice_results(b"1,2\r\n3,4\n", [0.5, 9.25],
    ...     [False, True], [-1, 0], ["high"], [0, 12], [-1, 0], ['say "hi" now'])
    >>> bytes(buf[:used])
    b'1,2,0.5,false,,0,\n3,4,9.25,true,"high",12,"say ""hi"" now"\n'
    """
    data = np.frombuffer(body, dtype=np.uint8)
    if data.shape[0] and data[-1] != 10:
        raise ValueError("splice_results needs every line of body ended by a line feed")
    n = len(flags)
    if line_ends is None:
        line_ends = np.flatnonzero(data == 10)
    if len(line_ends) < n or (n and data[line_ends[n - 1]] != 10):
        raise ValueError("splice_results needs one line of body per row")
    score_data, score_offsets = format_scores(np.asarray(scores, dtype=np.float64)[:n])
    tier = np.asarray(tier, dtype=np.int64)
    reason = np.asarray(reason, dtype=np.int64)
    tier_data, tier_offsets = _text_buffers(tier_names)
    reason_data, reason_offsets = _text_buffers(reason_texts)
    tier_lengths, reason_lengths = np.diff(tier_offsets), np.diff(reason_offsets)
    # quoted texts take at most twice their bytes, plus the two quotes
    size = (
        data.shape[0]
        + int(score_offsets[-1] - score_offsets[0])
        + int((2 * tier_lengths[tier[tier >= 0]] + 2).sum())
        + int((2 * reason_lengths[reason[reason >= 0]] + 2).sum())
        + n * (5 + 21 + 5)  # "false", a cluster number, five commas and a line feed
    )
    if buffer is None or len(buffer) < size:
        buffer = bytearray(size + size // 4)
    used = _splice_results(
        data,
        score_data,
        score_offsets,
        np.asarray(flags, dtype=np.bool_),
        tier,
        tier_data,
        tier_offsets,
        np.asarray(clusters, dtype=np.int64),
        reason,
        reason_data,
        reason_offsets,
        np.asarray(line_ends[:n], dtype=np.int64),
        np.frombuffer(buffer, dtype=np.uint8),
    )
    return buffer, used
