using System;
using System.Collections.Generic;
using System.IO;
using System.Text.Json;
using System.Text.Json.Serialization;
using TinyMlops.Releases;

namespace TinyMlops.Gateway.Releases;

/// <summary>
/// What the gateway has accepted, kept across restarts in <c>{DataDirectory}/releases/state.json</c> (written to a
/// temporary file and renamed, so a power cut leaves the old or the new state): the newest signing-key certificate
/// seen (older ones are refused from then on), the installed release (and the one before it while the new one is on
/// probation), and the releases refused for good with why
/// (they are not fetched again). A file that does not parse is moved aside and the gateway starts from nothing
/// installed, which only makes it fetch the newest release again.
/// </summary>
public sealed class ReleaseState
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>Highest certificate sequence seen.</summary>
    [JsonPropertyName("highestKeySequence")]
    public int HighestKeySequence { get; set; }

    /// <summary>Sequence of the installed release (0 before the first).</summary>
    [JsonPropertyName("installedSequence")]
    public long InstalledSequence { get; set; }

    /// <summary>Registry version of the installed release.</summary>
    [JsonPropertyName("installedVersion")]
    public string? InstalledVersion { get; set; }

    /// <summary>
    /// Verifier version of the installed release while it is on probation after its promotion (0 once it passed):
    /// a restart during probation starts it again.
    /// </summary>
    [JsonPropertyName("probationVerifierVersion")]
    public long ProbationVerifierVersion { get; set; }

    /// <summary>The release installed before this one, which a failed probation returns to.</summary>
    [JsonPropertyName("previousSequence")]
    public long PreviousSequence { get; set; }

    /// <summary>Registry version of <see cref="PreviousSequence"/>.</summary>
    [JsonPropertyName("previousVersion")]
    public string? PreviousVersion { get; set; }

    /// <summary>Releases refused for good (sequence to reason).</summary>
    [JsonPropertyName("refused")]
    public Dictionary<long, string> Refused { get; set; } = [];

    /// <summary>The trust state the verifier checks a release against.</summary>
    [JsonIgnore]
    public ReleaseTrustState Trust => new(HighestKeySequence, InstalledSequence);

    /// <summary>Reads <paramref name="path"/>; a missing file is the empty state, a corrupt one is moved to <c>.corrupt</c>.</summary>
    public static ReleaseState Load(string path)
    {
        if (!File.Exists(path))
        {
            return new ReleaseState();
        }

        try
        {
            return JsonSerializer.Deserialize<ReleaseState>(File.ReadAllBytes(path), Json) ?? new ReleaseState();
        }
        catch (JsonException)
        {
            File.Move(path, path + ".corrupt", overwrite: true);
            return new ReleaseState();
        }
    }

    /// <summary>Writes the state atomically.</summary>
    public void Save(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        string temp = path + ".tmp";
        using (var f = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            JsonSerializer.Serialize(f, this, Json);
            f.Flush(flushToDisk: true);
        }

        File.Move(temp, path, overwrite: true);
    }
}
