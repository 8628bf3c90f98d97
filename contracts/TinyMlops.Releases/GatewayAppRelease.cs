using System;
using System.Collections.Generic;
using System.Text.Json.Serialization;

namespace TinyMlops.Releases;

/// <summary>
/// A release of the gateway application itself: which build (<see cref="AppVersion"/>) for which runtime, and its
/// bundle (a <c>.tar.gz</c> of the publish folder, see <see cref="AppBundle"/>). Its own payload type, so a model
/// manifest can never be taken for an application release or the other way round. Signed like a model release.
/// </summary>
public sealed record GatewayAppManifest
{
    /// <summary>Envelope payload type of a gateway application manifest.</summary>
    public const string PayloadType = "application/vnd.tinymlops.gateway-app.v1+json";

    /// <summary>Vendor id.</summary>
    [JsonPropertyName("vendor")]
    public string Vendor { get; init; } = "";

    /// <summary>.NET runtime identifier the bundle is built for (<see cref="GatewayAppChannels.Runtimes"/>).</summary>
    [JsonPropertyName("runtime")]
    public string Runtime { get; init; } = "";

    /// <summary>Sequence within the runtime's channel: above every earlier application release for it.</summary>
    [JsonPropertyName("sequence")]
    public long Sequence { get; init; }

    /// <summary>When it was signed.</summary>
    [JsonPropertyName("created")]
    public DateTimeOffset Created { get; init; }

    /// <summary>The application's version (major.minor.patch), also written into the bundle's <c>bundle.json</c>.</summary>
    [JsonPropertyName("appVersion")]
    public string AppVersion { get; init; } = "";

    /// <summary>The bundle (one artifact, role <c>gateway-app</c>).</summary>
    [JsonPropertyName("artifacts")]
    public IReadOnlyList<ReleaseArtifact> Artifacts { get; init; } = [];
}

/// <summary>
/// Application releases live in the registry beside model releases, each runtime in a channel of its own: a
/// negative board class no board profile uses.
/// </summary>
public static class GatewayAppChannels
{
    /// <summary>The runtimes a gateway application is released for, in channel order (-1, -2, …).</summary>
    public static IReadOnlyList<string> Runtimes { get; } = ["linux-arm64", "linux-x64", "linux-arm"];

    /// <summary>The channel of <paramref name="runtime"/>; throws for a runtime that has none.</summary>
    public static int Of(string runtime)
    {
        for (int i = 0; i < Runtimes.Count; i++)
        {
            if (string.Equals(Runtimes[i], runtime, StringComparison.Ordinal))
            {
                return -(i + 1);
            }
        }

        throw new ArgumentException($"no gateway application channel for runtime '{runtime}' (there are: {string.Join(", ", Runtimes)})", nameof(runtime));
    }

    /// <summary>Every channel.</summary>
    public static IReadOnlyCollection<int> All
    {
        get
        {
            var all = new int[Runtimes.Count];
            for (int i = 0; i < all.Length; i++)
            {
                all[i] = -(i + 1);
            }

            return all;
        }
    }
}
