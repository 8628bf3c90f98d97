using System;
using System.IO;
using System.Linq;
using TinyMlops.Contracts;
using TinyMlops.Releases;
using Xunit;

namespace TinyMlops.Registry.Tests;

/// <summary>Staged rollouts as the registry runs them: groups in a fixed spread order, success and abort thresholds, pause, and restarts.</summary>
public class RolloutTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "tinymlops-rollout-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public void Groups_advance_on_success_and_the_rollout_completes_with_a_new_champion() => GroupsAdvance(Seed(_dir, Path.Combine(_dir, "registry")));

    [Fact]
    public void A_group_whose_failures_pass_the_threshold_aborts_and_admits_no_one() => FailuresAbort(Seed(_dir, Path.Combine(_dir, "registry")));

    [Fact]
    public void A_group_that_rounds_to_no_nodes_is_passed_over() => EmptyGroupPassedOver(Seed(_dir, Path.Combine(_dir, "registry")));

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>
    /// A registry at <paramref name="location"/> (a folder or a PostgreSQL database) with release 1 of board class 3
    /// (keys and the model folder under <paramref name="work"/>); the scenarios open it through what this returns.
    /// </summary>
    internal static Func<ModelRegistry> Seed(string work, string location)
    {
        Directory.CreateDirectory(work);
        KeyStore keys = KeyStore.Create(Path.Combine(work, "keys"), Path.Combine(work, "offline"), "acme", TimeSpan.FromDays(1), DateTimeOffset.UtcNow);
        string model = Path.Combine(work, "model");
        Directory.CreateDirectory(model);
        File.WriteAllBytes(Path.Combine(model, "detector.tmlm"), [1, 2, 3]);
        File.WriteAllBytes(Path.Combine(model, "verifier.onnx"), [4, 5, 6]);
        File.WriteAllText(Path.Combine(model, "model-card.json"), """{"board": "esp32-c3", "boardClass": 3, "codeVersion": "t", "dataset": {"contentHash": "d"}}""");
        using ModelRegistry r = ModelRegistry.Open(location);
        RegisteredModel m = r.Register(model);
        r.Publish(m.Version, s => keys.Sign(new ReleaseManifest { Vendor = "acme", BoardClass = 3, Sequence = s, ModelVersion = m.Version, Created = DateTimeOffset.UtcNow }), null);
        return () => ModelRegistry.Open(location);
    }

    internal static void GroupsAdvance(Func<ModelRegistry> open)
    {
        string[] fleet = Enumerable.Range(1, 20).Select(i => $"node-{i:D2}").ToArray();
        long id;
        using (ModelRegistry r = open())
        {
            Assert.Equal("none", r.ReportRollout("gw-1", 3, 1, Pending(fleet)).State); // no rollout: nobody is admitted
            id = r.StartRollout(3, 1, RolloutPlan.ParseGroups("1,25%,100%"), 0.9, 0.2).Id;
            Assert.Throws<InvalidOperationException>(() => r.StartRollout(3, 1, ["100%"], 0.9, 0.2)); // one open rollout per board class
            RolloutAdmission a = r.ReportRollout("gw-1", 3, 1, Pending(fleet));
            Assert.Equal(("running", 1), (a.State, a.Admitted.Count)); // the canary node
            Assert.Equal(RolloutPlan.Order(fleet)[0], a.Admitted[0]);

            a = r.ReportRollout("gw-1", 3, 1, [new RolloutNodeReport(a.Admitted[0], "confirmed", 1, null)]);
            Assert.Equal(5, a.Admitted.Count); // 25 % of 20, the canary included
        }

        using (ModelRegistry r = open()) // a trainer restart: the rollout carries on from the database
        {
            RolloutAdmission a = r.ReportRollout("gw-1", 3, 1, []);
            Assert.Equal(5, a.Admitted.Count);
            a = r.ReportRollout("gw-1", 3, 1, a.Admitted.Select(n => new RolloutNodeReport(n, "confirmed", 1, null)).ToArray());
            Assert.Equal(20, a.Admitted.Count);
            r.SetRolloutState(id, "paused", "night shift");
            Assert.Equal("paused", r.ReportRollout("gw-1", 3, 1, []).State);
            r.SetRolloutState(id, "running", "morning");
            a = r.ReportRollout("gw-1", 3, 1, fleet.Select(n => new RolloutNodeReport(n, n == "node-07" ? "failed" : "confirmed", 1, n == "node-07" ? "refused: self-test failed" : null)).ToArray());
            Assert.Equal("completed", a.State); // 19 of 20 confirmed in the last group: above 90 %
            Assert.Equal("esp32-c3-1", r.AliasOf(3, ModelRegistry.Champion));
            Assert.Equal("refused: self-test failed", r.RolloutNodes(id).Single(n => n.Node == "node-07").LastError);
            Assert.Equal([1, 4, 15], r.RolloutNodes(id).GroupBy(n => n.Group).OrderBy(g => g.Key).Select(g => g.Count()));

            // A late report cannot reopen a finished node.
            r.ReportRollout("gw-1", 3, 1, [new RolloutNodeReport("node-07", "downloading", 2, null)]);
            Assert.Equal("failed", r.RolloutNodes(id).Single(n => n.Node == "node-07").State);
        }
    }

    internal static void FailuresAbort(Func<ModelRegistry> open)
    {
        string[] fleet = Enumerable.Range(1, 10).Select(i => $"n{i}").ToArray();
        using ModelRegistry r = open();
        long id = r.StartRollout(3, 1, RolloutPlan.ParseGroups("50%"), 0.5, 0.2).Id;
        RolloutAdmission a = r.ReportRollout("gw-1", 3, 1, Pending(fleet));
        Assert.Equal(5, a.Admitted.Count);
        a = r.ReportRollout("gw-1", 3, 1, a.Admitted.Take(2).Select(n => new RolloutNodeReport(n, "failed", 5, "no answer after 5 offers")).ToArray());
        Assert.Equal(("aborted", 0), (a.State, a.Admitted.Count)); // 2 of 5 failed: more than 20 %, before the group even finished
        Assert.Contains("2 of 5 nodes failed", r.Rollouts(3).Single().Reason);
        Assert.Null(r.AliasOf(3, ModelRegistry.Champion));
        Assert.Throws<InvalidOperationException>(() => r.SetRolloutState(id, "running", "try again"));
        Assert.Equal(2, r.StartRollout(3, 1, ["100%"], 0.5, 0.2).Id); // a closed rollout lets a new one start
        Assert.Throws<ArgumentException>(() => RolloutPlan.ParseGroups("1,ten%"));
        Assert.Throws<ArgumentException>(() => r.StartRollout(3, 9, ["100%"], 0.5, 0.2)); // no such release
    }

    internal static void EmptyGroupPassedOver(Func<ModelRegistry> open)
    {
        string[] fleet = ["a", "b", "c", "d", "e"];
        using ModelRegistry r = open();
        Assert.Equal([1, 1, 5], RolloutPlan.Sizes(RolloutPlan.ParseGroups("1,10%,100%"), fleet.Length)); // 10 % of 5 adds nobody
        r.StartRollout(3, 1, RolloutPlan.ParseGroups("1,10%,100%"), 0.9, 0.2);
        string canary = Assert.Single(r.ReportRollout("gw-1", 3, 1, Pending(fleet)).Admitted);
        RolloutAdmission a = r.ReportRollout("gw-1", 3, 1, [new RolloutNodeReport(canary, "confirmed", 1, null)]);
        Assert.Equal(("running", 5), (a.State, a.Admitted.Count));
        Assert.Equal(2, r.Rollouts(3).Single().CurrentGroup);
        Assert.Equal("none", r.ReportRollout("gw-1", 2, 1, []).State); // another board class has no rollout
    }


    private static RolloutNodeReport[] Pending(string[] nodes) => nodes.Select(n => new RolloutNodeReport(n, "pending", 0, null)).ToArray();
}
