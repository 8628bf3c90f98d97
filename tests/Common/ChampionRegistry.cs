using System;
using System.IO;
using System.Linq;
using TinyMlops.Boards;
using TinyMlops.Registry;
using TinyMlops.Releases;

namespace TinyMlops.Tests.Common;

/// <summary>A registry whose board class 1 champion is released: the model a node flashed at the bench starts with.</summary>
internal static class ChampionRegistry
{
    /// <summary>Creates the registry at <paramref name="registryDir"/> (keys and the model folder beside it in <paramref name="root"/>); returns the release's sequence.</summary>
    public static long Create(string root, string registryDir)
    {
        string folder = Path.Combine(root, "champion-model");
        Directory.CreateDirectory(folder);
        File.WriteAllBytes(Path.Combine(folder, "detector.tmlm"), TestBed.Recordings.EveryWindowSuspicious(Checkout.FindRoot()));
        File.WriteAllBytes(Path.Combine(folder, "verifier.onnx"), [1, 2, 3]);
        File.WriteAllText(Path.Combine(folder, "model-card.json"), """{"board": "esp32-wroom-32", "boardClass": 1, "codeVersion": "test", "dataset": {"contentHash": "test"}}""");
        KeyStore keys = KeyStore.Create(Path.Combine(root, "champion-keys"), Path.Combine(root, "champion-offline"), "acme", TimeSpan.FromDays(30), DateTimeOffset.UtcNow);
        using ModelRegistry registry = ModelRegistry.Open(registryDir);
        RegisteredModel m = registry.Register(folder);
        StoredRelease r = registry.Publish(m.Version, sequence => keys.Sign(new ReleaseManifest
        {
            Vendor = "acme",
            BoardClass = 1,
            Sequence = sequence,
            Created = DateTimeOffset.UtcNow,
            MinGatewayVersion = "0.0.1",
            ModelVersion = m.Version,
            Artifacts = m.Artifacts,
            GoldenInputs = [.. Enumerable.Range(0, 72).Select(i => (float)Math.Sin(i))],
            ShadowAgreement = 0.9,
        }), null);
        registry.SetAlias(m.Version, ModelRegistry.Champion, "test champion");
        return r.Sequence;
    }
}
