"""AES-128-ECB with zero padding and the XOR hide, beyond the golden vectors."""

from __future__ import annotations

import os

import pytest

from openagent.sinks.whatap.codec import DecodeError
from openagent.sinks.whatap.crypto import Cypher, aes_key, xor_repeat, zero_pad


def naive_hide(data: bytes, key: int) -> bytes:
    """The per-byte definition of PROTOCOL §5."""
    k = (key & 0xFFFFFFFF).to_bytes(4, "big")
    return bytes(b ^ k[i % 4] for i, b in enumerate(data))


@pytest.mark.parametrize("key", [0x5A17C3E1, -1, 1, -(2**31), 0xFFFFFFFF, 0x00FF00FF])
@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 7, 8, 255, 4096, 4099, 65537])
def test_hide_equals_the_per_byte_definition(key: int, n: int) -> None:
    data = os.urandom(n)
    c = Cypher(b"k", key)
    hidden = c.hide(data)
    assert hidden == naive_hide(data, key)
    assert c.unhide(hidden) == data


def test_leading_zero_bytes_survive_the_integer_xor() -> None:
    data = bytes(9)
    assert xor_repeat(data, b"\x00\x00\x00\x01") == bytes.fromhex("000000010000000100")


def test_hide_with_key_zero_is_identity() -> None:
    assert Cypher(b"", 0).hide(b"abc") == b"abc"


def test_xor_key_out_of_range_is_rejected() -> None:
    with pytest.raises(ValueError, match="32 bits"):
        Cypher(b"", 2**32)


@pytest.mark.parametrize("n", [0, 1, 15, 16, 17, 100])
def test_encrypt_pads_with_zeros_and_decrypt_keeps_them(n: int) -> None:
    c = Cypher(b"SessionKey-16by!")
    data = os.urandom(n)
    enc = c.encrypt(data)
    assert len(enc) == len(zero_pad(data, 16))
    assert c.decrypt(enc) == zero_pad(data, 16)


def test_ecb_encrypts_equal_blocks_equally() -> None:
    enc = Cypher(b"key").encrypt(bytes(32))
    assert enc[:16] == enc[16:]


def test_decrypt_of_unaligned_input_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="17 bytes is not a multiple of 16"):
        Cypher(b"k").decrypt(bytes(17))


def test_key_is_truncated_or_zero_padded() -> None:
    assert aes_key(b"abc") == b"abc" + bytes(13)
    assert aes_key(bytes(range(20))) == bytes(range(16))
    assert Cypher(b"abc").encrypt(b"x") == Cypher(b"abc\x00").encrypt(b"x")


def test_repr_hides_keys() -> None:
    assert "Session" not in repr(Cypher(b"SessionKey-16by!", 5))


def test_zero_pad() -> None:
    assert zero_pad(b"abc", 4) == b"abc\x00"
    assert zero_pad(b"abcd", 4) == b"abcd"
    assert zero_pad(b"", 32) == b""
    assert zero_pad(b"a", 32) == b"a" + bytes(31)
