"""The Whatap cypher: AES-128-ECB with zero padding, and the XOR "hide" (PROTOCOL §5).

AES comes from the ``cryptography`` package. The key is truncated or
zero-padded to 16 bytes; AES-128 is used whatever the configured cypher level.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from openagent.sinks.whatap.codec import I32, DecodeError

BLOCK = 16


def aes_key(key: bytes) -> bytes:
    """The AES-128 key Whatap derives from any key: first 16 bytes, zero-padded."""
    return key[:BLOCK].ljust(BLOCK, b"\x00")


def zero_pad(data: bytes, multiple: int) -> bytes:
    """``data`` padded with zero bytes to a multiple of ``multiple`` (nothing added if aligned)."""
    if multiple <= 1:
        return data
    rem = len(data) % multiple
    return data if rem == 0 else data + bytes(multiple - rem)


def xor_repeat(data: bytes, key4: bytes) -> bytes:
    """``data[i] ^ key4[i % 4]`` over the whole buffer, computed as one big-integer XOR."""
    n = len(data)
    if n == 0:
        return b""
    stream = key4 * (n // 4 + 1)
    x = int.from_bytes(data, "big") ^ int.from_bytes(stream[:n], "big")
    return x.to_bytes(n, "big")


class Cypher:
    """An AES key and an i32 XOR key, as the Go agent's ``Cypher``.

    The keys are not shown by ``repr``.
    """

    __slots__ = ("_cipher", "_xor", "xor_key")

    def __init__(self, key: bytes, xor_key: int = 0) -> None:
        self._cipher = Cipher(algorithms.AES(aes_key(key)), modes.ECB())
        if not -(2**31) <= xor_key < 2**32:
            raise ValueError(f"xor key {xor_key} does not fit in 32 bits")
        self._xor = (xor_key & 0xFFFFFFFF).to_bytes(4, "big")
        self.xor_key = I32.unpack(self._xor)[0]

    def __repr__(self) -> str:
        return "Cypher(<keys hidden>)"

    def encrypt(self, data: bytes) -> bytes:
        """Zero-pad to 16 bytes, then AES-128-ECB (empty in, empty out)."""
        if not data:
            return b""
        enc = self._cipher.encryptor()
        return enc.update(zero_pad(data, BLOCK)) + enc.finalize()

    def decrypt(self, data: bytes) -> bytes:
        """AES-128-ECB decryption; padding zeros are kept. Length must be a multiple of 16."""
        if len(data) % BLOCK:
            raise DecodeError(f"encrypted payload of {len(data)} bytes is not a multiple of 16")
        if not data:
            return b""
        dec = self._cipher.decryptor()
        return dec.update(data) + dec.finalize()

    def hide(self, data: bytes) -> bytes:
        """XOR with the 4 key bytes (big-endian), restarting at index 0; identity for key 0."""
        if self.xor_key == 0:
            return bytes(data)
        return xor_repeat(data, self._xor)

    #: Hiding twice restores the input.
    unhide = hide
