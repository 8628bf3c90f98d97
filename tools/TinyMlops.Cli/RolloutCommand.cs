using System;
using System.Globalization;
using System.Linq;
using TinyMlops.Registry;

namespace TinyMlops.Cli;

/// <summary>
/// <c>tinymlops rollout start|status|pause|resume|abort</c> on a registry folder: staged rollouts of a release
/// (<see cref="RolloutPlan"/>), which gateways follow through the trainer service.
/// </summary>
public static class RolloutCommand
{
    /// <summary><c>rollout start --board-class N [--sequence S] [--groups 1,10%,50%,100%] [--success X] [--abort X] [--registry DIR]</c>.</summary>
    public static int Start(Options o)
    {
        if (o.Get("board-class") == null)
        {
            throw new UsageException("--board-class is required");
        }

        using ModelRegistry registry = Open(o);
        int boardClass = o.GetInt("board-class", 0);
        long sequence = o.Get("sequence") is { } s ? long.Parse(s, NumberStyles.None, CultureInfo.InvariantCulture)
            : registry.LatestReleases([boardClass]).FirstOrDefault()?.Sequence ?? throw new CliException($"board class {boardClass} has no release: 'tinymlops release' one first");
        string[] groups;
        try
        {
            groups = RolloutPlan.ParseGroups(o.Get("groups") ?? "1,10%,50%,100%");
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }

        double success = o.GetDouble("success", 0.95), abort = o.GetDouble("abort", 0.1);
        if (success > 1 || abort > 1)
        {
            throw new UsageException("--success and --abort are shares of a group's nodes, at most 1");
        }

        Rollout r;
        try
        {
            r = registry.StartRollout(boardClass, sequence, groups, success, abort);
        }
        catch (InvalidOperationException e)
        {
            throw new CliException(e.Message);
        }

        Console.WriteLine($"rollout {r.Id}: release {r.Sequence} ({r.Version}) of board class {r.BoardClass} in groups {string.Join(", ", r.Groups)}; next group when {r.SuccessThreshold:P0} of one confirm, abort when more than {r.AbortFailureRate:P0} fail");
        return 0;
    }

    /// <summary><c>rollout status [--id N] [--registry DIR]</c>: the newest rollout (or N), each group and each node.</summary>
    public static int Status(Options o)
    {
        using ModelRegistry registry = Open(o);
        Rollout r = Find(registry, o);
        var nodes = registry.RolloutNodes(r.Id);
        Console.WriteLine($"rollout {r.Id}: release {r.Sequence} ({r.Version}) of board class {r.BoardClass}: {r.State.ToUpperInvariant()} at group {r.CurrentGroup + 1} of {r.Groups.Count} ({r.Reason}), since {r.Updated:yyyy-MM-dd HH:mm:ss}");
        for (int g = 0; g < r.Groups.Count; g++)
        {
            var members = nodes.Where(n => n.Group == g).ToList();
            Console.WriteLine($"  group {g + 1} ({r.Groups[g]}, {members.Count} nodes{(g == r.CurrentGroup && r.State == "running" ? ", current" : "")}): {members.Count(n => n.State == "confirmed")} confirmed, {members.Count(n => n.State == "failed")} failed, {members.Count(n => !RolloutPlan.IsFinished(n.State))} open");
        }

        Console.WriteLine($"{"node",-24} {"gateway",-16} {"group",5} {"state",-12} {"offers",6}  last error");
        foreach (RolloutNode n in nodes)
        {
            Console.WriteLine($"{n.Node,-24} {n.Gateway,-16} {n.Group + 1,5} {n.State,-12} {n.Attempts,6}  {n.LastError ?? "-"}");
        }

        return 0;
    }

    /// <summary><c>rollout pause|resume|abort [--id N] --reason TEXT [--registry DIR]</c>.</summary>
    public static int Change(Options o, string state)
    {
        using ModelRegistry registry = Open(o);
        Rollout r = Find(registry, o);
        try
        {
            r = registry.SetRolloutState(r.Id, state, o.Get("reason")!);
        }
        catch (InvalidOperationException e)
        {
            throw new CliException(e.Message);
        }

        Console.WriteLine($"rollout {r.Id} is {r.State}: {r.Reason}");
        return 0;
    }

    private static ModelRegistry Open(Options o) => ModelRegistry.Open(o.Get("registry") ?? "registry");

    private static Rollout Find(ModelRegistry registry, Options o)
    {
        long? id = o.Get("id") is { } s ? long.Parse(s, NumberStyles.None, CultureInfo.InvariantCulture) : null;
        return registry.Rollouts(null).FirstOrDefault(r => id == null || r.Id == id)
            ?? throw new CliException(id == null ? "there is no rollout yet: 'tinymlops rollout start' one" : $"there is no rollout {id}");
    }
}
