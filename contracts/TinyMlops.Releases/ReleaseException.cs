using System;

namespace TinyMlops.Releases;

/// <summary>Why a release, key or envelope was refused.</summary>
public enum ReleaseError
{
    /// <summary>Not parseable, or a required field missing or out of range.</summary>
    Malformed = 1,

    /// <summary>A signature does not verify with the key it names, or names an unknown key.</summary>
    BadSignature,

    /// <summary>The signing key is outside its validity period.</summary>
    KeyExpired,

    /// <summary>The signing key's certificate is older than one already seen (a rotated-out key).</summary>
    KeyRevoked,

    /// <summary>The release's sequence is not above the last one installed (replay or rollback).</summary>
    Rollback,

    /// <summary>The release is for another vendor or board class.</summary>
    WrongTarget,

    /// <summary>An artifact's size or SHA-256 differs from the manifest.</summary>
    DigestMismatch,

    /// <summary>The release needs a newer gateway.</summary>
    GatewayTooOld,

    /// <summary>A key file is missing, unreadable, corrupt or readable by others.</summary>
    KeyFile,
}

/// <summary>A refused release, key or envelope, with its <see cref="ReleaseError"/>.</summary>
public sealed class ReleaseException(ReleaseError error, string message) : Exception(message)
{
    /// <summary>Why.</summary>
    public ReleaseError Error { get; } = error;
}
