using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Threading.Tasks;
using TinyMlops.Firmware.Core.Models;
using TinyMlops.Releases;
using TinyMlops.Trainer;
using Xunit;

namespace TinyMlops.Registry.Tests;

[Collection(TrainedModel.Collection)]
public class ReleaseGateTests(TrainedModel trained)
{
    [Fact]
    public void A_trained_model_is_registered_with_its_lineage_and_released_signed_for_its_board_class()
    {
        using ModelRegistry registry = ModelRegistry.Open(trained.Temp("registry"));
        ReleaseOutcome r = Releasing.Release(new ReleaseRequest { ModelDirectory = trained.Model, Registry = registry, Keys = trained.Keys, EvaluationData = TrainedModel.Data });

        Assert.Equal("esp32-c3-1", r.Model.Version);
        Assert.Equal(3, r.Model.BoardClass);
        Assert.Null(r.Model.Parent);
        Assert.Equal(trained.Card.Dataset.ContentHash, r.Model.DatasetHash);
        Assert.Equal(trained.Card.CodeVersion, r.Model.CodeVersion);
        Assert.Equal(1, r.Release.Sequence);
        Assert.Null(r.Release.ForcedReason);
        Assert.All(r.Gate, g => Assert.Null(g.Champion)); // nothing to lose against
        Assert.Equal("esp32-c3-1", registry.AliasOf(3, ModelRegistry.Canary));
        Assert.Null(registry.AliasOf(3, ModelRegistry.Champion));

        // What a gateway serving class 3 accepts: the chain verifies, and every artifact is the registry's bytes.
        var verifier = new ReleaseVerifier(trained.Keys.RootPublicKey(), "acme", [3], new Version(1, 0, 0));
        VerifiedRelease v = verifier.Verify(SignedRelease.Parse(r.Release.Document), new ReleaseTrustState(0, 0), DateTimeOffset.UtcNow);
        Assert.Equal(("esp32-c3-1", 3, 1L), (v.Manifest.ModelVersion, v.Manifest.BoardClass, v.Manifest.Sequence));
        Assert.Equal(["detector.tmlm", "verifier.onnx", "model-card.json", "verifier-int8.onnx", "model-card.md"], v.Manifest.Artifacts.Select(a => a.Name));
        foreach (ReleaseArtifact a in v.Manifest.Artifacts)
        {
            byte[] content = registry.Artifact(a.Sha256)!;
            Assert.Equal(File.ReadAllBytes(Path.Combine(trained.Model, a.Name)), content);
            ReleaseVerifier.CheckArtifact(a, new MemoryStream(content));
        }

        int features = Int8Model.Load(File.ReadAllBytes(Path.Combine(trained.Model, "detector.tmlm")), 3, 0).Header.InputLength;
        Assert.Equal(8 * features, v.Manifest.GoldenInputs.Length);
        Assert.Equal(r.Gate.Single(g => g.Name == "verifier_macro_f1").Candidate, v.Manifest.Figures["verifier_macro_f1"]);
        Assert.Throws<ReleaseException>(() => new ReleaseVerifier(trained.Keys.RootPublicKey(), "acme", [1], new Version(1, 0, 0))
            .Verify(SignedRelease.Parse(r.Release.Document), new ReleaseTrustState(0, 0), DateTimeOffset.UtcNow)); // another board class's gateway
        Assert.Equal(ReleaseError.GatewayTooOld, Assert.Throws<ReleaseException>(() => new ReleaseVerifier(trained.Keys.RootPublicKey(), "acme", [3], new Version(0, 0, 1))
            .Verify(SignedRelease.Parse(r.Release.Document), new ReleaseTrustState(0, 0), DateTimeOffset.UtcNow)).Error); // it needs this trainer's version

        // A second version of the board descends from the champion.
        registry.SetAlias("esp32-c3-1", ModelRegistry.Champion, "confirmed on the line");
        ReleaseOutcome second = Releasing.Release(new ReleaseRequest { ModelDirectory = trained.Model, Registry = registry, Keys = trained.Keys });
        Assert.Equal(("esp32-c3-2", "esp32-c3-1", 2L), (second.Model.Version, second.Model.Parent, second.Release.Sequence));
        Assert.All(second.Gate, g => Assert.False(g.Worse)); // the same model scores the same
        Assert.Equal(["canary", "champion", "canary"], registry.AliasHistory(3).Select(a => a.Alias));
    }

    [Fact]
    public void A_release_that_scores_below_the_champion_is_refused_unless_forced_with_a_recorded_reason()
    {
        using ModelRegistry registry = ModelRegistry.Open(trained.Temp("registry"));
        ReleaseOutcome first = Releasing.Release(new ReleaseRequest { ModelDirectory = trained.Model, Registry = registry, Keys = trained.Keys, EvaluationData = TrainedModel.Data });
        registry.SetAlias(first.Model.Version, ModelRegistry.Champion, "first release");
        string worse = trained.FlagsEverything();

        var e = Assert.Throws<ReleaseGateException>(() => Releasing.Release(new ReleaseRequest { ModelDirectory = worse, Registry = registry, Keys = trained.Keys }));
        Assert.Contains("cascade_false_alarm_rate", e.Message);
        Assert.Contains(e.Gate, g => g.Name == "cascade_false_alarm_rate" && g.Worse && g.Candidate > g.Champion);
        Assert.Single(registry.Models(null)); // nothing registered, nothing signed
        Assert.Single(registry.Releases([3]));
        Assert.NotNull(registry.Evaluation(first.Model.Version, first.Model.DatasetHash)); // kept per evaluation set (here the training set)

        ReleaseOutcome forced = Releasing.Release(new ReleaseRequest { ModelDirectory = worse, Registry = registry, Keys = trained.Keys, ForceReason = "hotfix: alarms wanted on every window during commissioning" });
        Assert.Equal(("esp32-c3-2", "esp32-c3-1", 2L), (forced.Model.Version, forced.Model.Parent, forced.Release.Sequence));
        Assert.Equal("hotfix: alarms wanted on every window during commissioning", registry.Releases([3]).Single(r => r.Sequence == 2).ForcedReason);
        Assert.Contains("forced", registry.Aliases(3).Single(a => a.Alias == ModelRegistry.Canary).Reason);
        Assert.Equal("esp32-c3-1", registry.AliasOf(3, ModelRegistry.Champion));
    }

    [Fact]
    public void Corrupt_folders_registries_and_missing_evaluation_sets_are_clear_errors()
    {
        using (ModelRegistry registry = ModelRegistry.Open(trained.Temp("registry")))
        {
            Assert.Contains("--eval-data", Assert.Throws<ArgumentException>(() => Releasing.Release(new ReleaseRequest { ModelDirectory = trained.Model, Registry = registry, Keys = trained.Keys })).Message);

            string truncated = trained.Temp("truncated");
            TrainedModel.CopyFolder(trained.Model, truncated);
            byte[] blob = File.ReadAllBytes(Path.Combine(truncated, "detector.tmlm"));
            File.WriteAllBytes(Path.Combine(truncated, "detector.tmlm"), blob[..(blob.Length / 2)]);
            Assert.Contains("not a valid model", Assert.Throws<InvalidDataException>(() => Releasing.Release(new ReleaseRequest { ModelDirectory = truncated, Registry = registry, Keys = trained.Keys, EvaluationData = TrainedModel.Data })).Message);

            File.WriteAllBytes(Path.Combine(truncated, "detector.tmlm"), blob);
            File.WriteAllText(Path.Combine(truncated, "model-card.json"), "{\"board\": \"esp32-c3\"");
            Assert.Throws<InvalidDataException>(() => registry.Register(truncated));
            File.Delete(Path.Combine(truncated, "model-card.json"));
            Assert.Throws<FileNotFoundException>(() => registry.Register(truncated));
            Assert.Empty(registry.Models(null));
        }

        string corrupt = trained.Temp("corrupt");
        File.WriteAllBytes(Path.Combine(corrupt, ModelRegistry.DatabaseFile), RandomNumberGenerator.GetBytes(8192));
        Assert.Contains(ModelRegistry.DatabaseFile, Assert.Throws<InvalidDataException>(() => ModelRegistry.Open(corrupt)).Message);
    }

    [Fact]
    public async Task Trainers_sharing_a_registry_never_hand_out_the_same_sequence()
    {
        string dir = trained.Temp("shared");
        using (ModelRegistry setup = ModelRegistry.Open(dir))
        {
            setup.Register(trained.Model);
        }

        using ModelRegistry a = ModelRegistry.Open(dir), b = ModelRegistry.Open(dir);
        SignedRelease Sign(long sequence) => trained.Keys.Sign(new ReleaseManifest { Vendor = "acme", BoardClass = 3, Sequence = sequence, ModelVersion = "esp32-c3-1", Created = DateTimeOffset.UtcNow });
        Task<long[]> Run(ModelRegistry r) => Task.Run(() => Enumerable.Range(0, 10).Select(_ => r.Publish("esp32-c3-1", Sign, null).Sequence).ToArray());
        long[][] got = await Task.WhenAll(Run(a), Run(b));
        Assert.Equal(Enumerable.Range(1, 20).Select(i => (long)i), got.SelectMany(s => s).Order());
        foreach (StoredRelease r in a.Releases([3]))
        {
            using var manifest = System.Text.Json.JsonDocument.Parse(SignedRelease.Parse(r.Document).Manifest.Payload);
            Assert.Equal(r.Sequence, manifest.RootElement.GetProperty("sequence").GetInt64()); // signed under the sequence it is stored as
        }
    }
}
