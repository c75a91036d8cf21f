namespace Parley.Core.Identity;

/// <summary>Key types of the libp2p crypto protobuf (<c>KeyType</c> enum). Parley creates and verifies Ed25519 only.</summary>
public enum KeyType
{
    Rsa = 0,
    Ed25519 = 1,
    Secp256k1 = 2,
    Ecdsa = 3,
}
