using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis.CSharp;

namespace TinyMlops.NanoApiCheck;

/// <summary>
/// Turns an <see cref="ApiListing"/> into C# reference declarations: one stand-in core library holding every listed
/// type and member with throwing bodies, and nothing else. Device code compiled against it alone can use only what
/// the nanoFramework libraries really offer.
/// </summary>
public static class StubGenerator
{
    private static readonly Dictionary<string, string> Operators = new(StringComparer.Ordinal)
    {
        ["op_Equality"] = "==", ["op_Inequality"] = "!=", ["op_LessThan"] = "<", ["op_GreaterThan"] = ">",
        ["op_LessThanOrEqual"] = "<=", ["op_GreaterThanOrEqual"] = ">=", ["op_Addition"] = "+", ["op_Subtraction"] = "-",
        ["op_Multiply"] = "*", ["op_Division"] = "/", ["op_Modulus"] = "%", ["op_UnaryNegation"] = "-", ["op_UnaryPlus"] = "+",
        ["op_BitwiseAnd"] = "&", ["op_BitwiseOr"] = "|", ["op_ExclusiveOr"] = "^", ["op_OnesComplement"] = "~", ["op_LogicalNot"] = "!",
    };

    private static readonly Dictionary<string, string> Partner = new(StringComparer.Ordinal)
    {
        ["op_Equality"] = "op_Inequality", ["op_Inequality"] = "op_Equality", ["op_LessThan"] = "op_GreaterThan",
        ["op_GreaterThan"] = "op_LessThan", ["op_LessThanOrEqual"] = "op_GreaterThanOrEqual", ["op_GreaterThanOrEqual"] = "op_LessThanOrEqual",
    };

    private static readonly HashSet<string> Primitives = new(StringComparer.Ordinal)
    {
        "System.Boolean", "System.Byte", "System.SByte", "System.Int16", "System.UInt16", "System.Int32", "System.UInt32",
        "System.Int64", "System.UInt64", "System.Single", "System.Double", "System.Char", "System.IntPtr", "System.UIntPtr",
    };

    public static string Generate(ApiListing listing) => Generate(listing, _ => true);

    /// <summary>Declarations for the listed top-level types <paramref name="include"/> accepts (with their nested types).</summary>
    public static string Generate(ApiListing listing, Func<ListedType, bool> include)
    {
        var sb = new StringBuilder();
        sb.AppendLine("#pragma warning disable");
        foreach (IGrouping<string, ListedType> ns in listing.Types.Values.Where(t => t.DeclaringType == null && include(t)).GroupBy(t => t.Namespace).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            sb.Append("namespace ").Append(ns.Key).AppendLine(" {");
            foreach (ListedType t in ns.OrderBy(t => t.Id, StringComparer.Ordinal))
            {
                EmitType(listing, t, sb);
            }

            sb.AppendLine("}");
        }

        return sb.ToString();
    }

    private static void EmitType(ApiListing listing, ListedType t, StringBuilder sb)
    {
        string name = t.SimpleName + TypeParameters(t.Arity);
        if (t.Kind == "delegate")
        {
            ListedMember? invoke = t.Members.FirstOrDefault(m => m.Name == "Invoke");
            if (invoke != null && Resolvable(listing, invoke))
            {
                sb.Append("public delegate ").Append(TypeName(invoke.ReturnType!)).Append(' ').Append(name).Append('(').Append(ParameterList(invoke)).AppendLine(");");
            }

            return;
        }

        if (t.Kind == "enum")
        {
            sb.Append("public enum ").Append(name).Append(" : ").Append(Keyword(t.Base ?? "System.Int32")).AppendLine(" {");
            foreach (ListedMember f in t.Members.Where(m => m.Kind == 'F' && m.IsConst))
            {
                sb.Append(Identifier(f.Name)).Append(" = unchecked((").Append(Keyword(t.Base ?? "System.Int32")).Append(")(").Append(f.ConstValue).AppendLine(")),");
            }

            sb.AppendLine("}");
            return;
        }

        var bases = new List<string>();
        if (t.Kind == "class" && t.Base != null && t.Base != "System.Object" && listing.Types.ContainsKey(StripGeneric(t.Base)))
        {
            bases.Add(TypeName(t.Base));
        }

        bases.AddRange(t.Interfaces.Where(i => listing.Types.ContainsKey(StripGeneric(i))).Select(TypeName));
        string modifiers = t.Kind == "class" ? (t.IsStatic ? "static " : t.IsAbstract ? "abstract " : t.IsSealed ? "sealed " : "") : "";
        string keyword = t.Kind == "struct" ? (t.Id == "System.Void" ? "struct" : "partial struct") : t.Kind;
        sb.Append("public ").Append(modifiers).Append(keyword).Append(' ').Append(name);
        if (t.Id == "System.Object")
        {
            bases.Clear();
        }

        if (bases.Count > 0)
        {
            sb.Append(" : ").Append(string.Join(", ", bases));
        }

        sb.AppendLine(" {");
        bool isInterface = t.Kind == "interface";
        var emitted = new HashSet<string>(StringComparer.Ordinal);
        bool hasParameterlessCtor = false;
        foreach (ListedMember m in t.Members)
        {
            if (!Resolvable(listing, m))
            {
                continue;
            }

            switch (m.Kind)
            {
                case 'F':
                    if (t.Kind == "struct" && !m.IsConst && !m.IsStatic && StripArray(m.ReturnType!) == t.Id)
                    {
                        break;
                    }

                    sb.Append(m.IsProtected ? "protected " : "public ");
                    if (m.IsConst)
                    {
                        sb.Append("const ").Append(TypeName(m.ReturnType!)).Append(' ').Append(Identifier(m.Name)).Append(" = ").Append(ConstLiteral(m.ReturnType!, m.ConstValue!)).AppendLine(";");
                    }
                    else
                    {
                        sb.Append(m.IsStatic || t.IsStatic ? "static " : "").Append(TypeName(m.ReturnType!)).Append(' ').Append(Identifier(m.Name)).AppendLine(";");
                    }

                    break;
                case 'E':
                    sb.Append(isInterface ? "" : "public ").Append(m.IsStatic ? "static " : "").Append("event ").Append(TypeName(m.ReturnType!)).Append(' ').Append(Identifier(m.Name))
                        .AppendLine(isInterface ? ";" : " { add { } remove { } }");
                    break;
                case 'P':
                {
                    string mods = isInterface ? "" : Modifiers(listing, t, m);
                    bool indexer = m.Parameters.Count > 0;
                    if (indexer && m.Name != "Item")
                    {
                        sb.Append("[System.Runtime.CompilerServices.IndexerName(\"").Append(m.Name).Append("\")] ");
                    }

                    sb.Append(mods).Append(TypeName(m.ReturnType!)).Append(' ');
                    if (indexer)
                    {
                        sb.Append("this[").Append(ParameterList(m)).Append(']');
                    }
                    else
                    {
                        sb.Append(Identifier(m.Name));
                    }

                    bool body = !isInterface && !m.IsAbstract;
                    sb.Append(" { ");
                    if (m.HasGet)
                    {
                        sb.Append(body ? "get { throw null; } " : "get; ");
                    }

                    if (m.HasSet)
                    {
                        sb.Append(body ? "set { } " : "set; ");
                    }

                    sb.AppendLine("}");
                    emitted.Add("P:" + m.Name);
                    break;
                }

                case 'M':
                {
                    if (m.Name is "#cctor" or "Finalize" || (t.Id == "System.Object" && m.Name == "Finalize"))
                    {
                        break;
                    }

                    if (IsAccessor(t, m))
                    {
                        break;
                    }

                    if (m.Name == "#ctor")
                    {
                        if (t.IsStatic || isInterface)
                        {
                            break;
                        }

                        if (t.Kind == "struct" && m.Parameters.Count == 0)
                        {
                            break;
                        }

                        hasParameterlessCtor |= m.Parameters.Count == 0;
                        sb.Append(m.IsProtected ? "protected " : "public ").Append(Identifier(t.SimpleName)).Append('(').Append(ParameterList(m)).Append(')')
                            .AppendLine(t.Kind == "class" && NeedsBaseCall(listing, t) ? " : base() { throw null; }" : " { throw null; }");
                        break;
                    }

                    if (Operators.TryGetValue(m.Name, out string? op))
                    {
                        if (Primitives.Contains(t.Id) || !emitted.Add(m.Signature))
                        {
                            break;
                        }

                        sb.Append("public static ").Append(TypeName(m.ReturnType!)).Append(" operator ").Append(op).Append('(').Append(ParameterList(m)).AppendLine(") { throw null; }");
                        if (Partner.TryGetValue(m.Name, out string? partner) && !t.Members.Any(x => x.Name == partner) && emitted.Add(partner + "(" + string.Join(",", m.Parameters) + ")"))
                        {
                            sb.Append("public static ").Append(TypeName(m.ReturnType!)).Append(" operator ").Append(Operators[partner]).Append('(').Append(ParameterList(m)).AppendLine(") { throw null; }");
                        }

                        break;
                    }

                    if (m.Name is "op_Implicit" or "op_Explicit")
                    {
                        if (m.ConversionTarget != null && emitted.Add(m.Signature + "~" + m.ConversionTarget))
                        {
                            sb.Append("public static ").Append(m.Name == "op_Implicit" ? "implicit" : "explicit").Append(" operator ").Append(TypeName(m.ConversionTarget)).Append('(').Append(ParameterList(m)).AppendLine(") { throw null; }");
                        }

                        break;
                    }

                    if (m.Name.StartsWith("op_", StringComparison.Ordinal) || m.Name.Contains('#') || m.Name.Contains("``", StringComparison.Ordinal))
                    {
                        break;
                    }

                    if (!emitted.Add(m.Signature))
                    {
                        break;
                    }

                    sb.Append(isInterface ? "" : Modifiers(listing, t, m)).Append(TypeName(m.ReturnType ?? "System.Void")).Append(' ').Append(Identifier(m.Name)).Append('(').Append(ParameterList(m)).Append(')');
                    sb.AppendLine(isInterface || m.IsAbstract ? ";" : " { throw null; }");
                    break;
                }
            }
        }

        if (t.Kind == "class" && !t.IsStatic && !hasParameterlessCtor)
        {
            // Lets listed derived types chain to their base; internal, so device code cannot call it.
            sb.Append("internal ").Append(Identifier(t.SimpleName)).AppendLine("() { }");
        }

        if (!isInterface)
        {
            EmitMissingImplementations(listing, t, sb);
        }

        foreach (ListedType nested in listing.Types.Values.Where(n => n.DeclaringType == t.Id).OrderBy(n => n.Id, StringComparer.Ordinal))
        {
            EmitType(listing, nested, sb);
        }

        sb.AppendLine("}");
    }

    // Interface members the listing shows no public member for (explicit implementations) and abstract members of
    // bases the listing shows no override for: both exist on the device, so the stub supplies them.
    private static void EmitMissingImplementations(ApiListing listing, ListedType t, StringBuilder sb)
    {
        var own = new HashSet<string>(AllMembers(listing, t).Select(m => m.Kind + ":" + m.Signature), StringComparer.Ordinal);
        foreach (string iface in AllInterfaces(listing, t))
        {
            ListedType it = listing.Types[StripGeneric(iface)];
            foreach (ListedMember m in it.Members.Where(m => Resolvable(listing, m) && !IsAccessor(it, m)))
            {
                if (own.Contains(m.Kind + ":" + m.Signature))
                {
                    continue;
                }

                string ifaceName = TypeName(iface);
                if (m.Kind == 'M')
                {
                    sb.Append(TypeName(m.ReturnType ?? "System.Void")).Append(' ').Append(ifaceName).Append('.').Append(Identifier(m.Name)).Append('(').Append(ParameterList(m)).AppendLine(") { throw null; }");
                }
                else if (m.Kind == 'P')
                {
                    string target = m.Parameters.Count > 0 ? "this[" + ParameterList(m) + "]" : Identifier(m.Name);
                    sb.Append(TypeName(m.ReturnType!)).Append(' ').Append(ifaceName).Append('.').Append(target).Append(" { ")
                        .Append(m.HasGet ? "get { throw null; } " : "").Append(m.HasSet ? "set { } " : "").AppendLine("}");
                }
                else if (m.Kind == 'E')
                {
                    sb.Append("event ").Append(TypeName(m.ReturnType!)).Append(' ').Append(ifaceName).Append('.').Append(Identifier(m.Name)).AppendLine(" { add { } remove { } }");
                }

                own.Add(m.Kind + ":" + m.Signature);
            }
        }

        if (t.Kind != "class" || t.IsAbstract)
        {
            return;
        }

        var overridden = new HashSet<string>(t.Members.Select(m => m.Kind + ":" + m.Signature), StringComparer.Ordinal);
        for (ListedType? b = BaseOf(listing, t); b != null; b = BaseOf(listing, b))
        {
            foreach (ListedMember m in b.Members.Where(m => m.IsAbstract && Resolvable(listing, m) && !IsAccessor(b, m)))
            {
                if (!overridden.Add(m.Kind + ":" + m.Signature))
                {
                    continue;
                }

                string access = m.IsProtected ? "protected" : "public";
                if (m.Kind == 'M')
                {
                    sb.Append(access).Append(" override ").Append(TypeName(m.ReturnType ?? "System.Void")).Append(' ').Append(Identifier(m.Name)).Append('(').Append(ParameterList(m)).AppendLine(") { throw null; }");
                }
                else if (m.Kind == 'P')
                {
                    sb.Append(access).Append(" override ").Append(TypeName(m.ReturnType!)).Append(' ').Append(m.Parameters.Count > 0 ? "this[" + ParameterList(m) + "]" : Identifier(m.Name)).Append(" { ")
                        .Append(m.HasGet ? "get { throw null; } " : "").Append(m.HasSet ? "set { } " : "").AppendLine("}");
                }
            }

            foreach (ListedMember m in b.Members)
            {
                overridden.Add(m.Kind + ":" + m.Signature);
            }
        }
    }

    private static string Modifiers(ApiListing listing, ListedType t, ListedMember m)
    {
        var sb = new StringBuilder(m.IsProtected ? "protected " : "public ");
        if (m.IsStatic || t.IsStatic)
        {
            return sb.Append("static ").ToString();
        }

        bool overrides = FindInBases(listing, t, m) is { } b && (b.IsVirtual || b.IsAbstract);
        if (overrides)
        {
            return sb.Append("override ").ToString();
        }

        if (m.IsAbstract && t.IsAbstract)
        {
            return sb.Append("abstract ").ToString();
        }

        if ((m.IsVirtual || m.IsAbstract) && t.Kind == "class" && !t.IsSealed)
        {
            return sb.Append("virtual ").ToString();
        }

        return sb.ToString();
    }

    private static ListedMember? FindInBases(ApiListing listing, ListedType t, ListedMember m)
    {
        if (t.Kind == "struct" || t.Kind == "enum")
        {
            ListedType? vt = listing.Types.GetValueOrDefault("System.ValueType");
            ListedMember? inValue = vt?.Members.FirstOrDefault(x => x.Kind == m.Kind && x.Signature == m.Signature);
            return inValue ?? listing.Types.GetValueOrDefault("System.Object")?.Members.FirstOrDefault(x => x.Kind == m.Kind && x.Signature == m.Signature);
        }

        for (ListedType? b = BaseOf(listing, t); b != null; b = BaseOf(listing, b))
        {
            ListedMember? found = b.Members.FirstOrDefault(x => x.Kind == m.Kind && x.Signature == m.Signature);
            if (found != null)
            {
                return found;
            }
        }

        return null;
    }

    private static ListedType? BaseOf(ApiListing listing, ListedType t)
    {
        if (t.Id == "System.Object")
        {
            return null;
        }

        string b = t.Base ?? "System.Object";
        return t.Kind == "class" ? listing.Types.GetValueOrDefault(StripGeneric(b)) ?? listing.Types.GetValueOrDefault("System.Object") : null;
    }

    private static IEnumerable<ListedMember> AllMembers(ApiListing listing, ListedType t)
    {
        for (ListedType? c = t; c != null; c = BaseOf(listing, c))
        {
            foreach (ListedMember m in c.Members)
            {
                yield return m;
            }
        }
    }

    private static IEnumerable<string> AllInterfaces(ApiListing listing, ListedType t)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var stack = new Stack<string>(t.Interfaces.Where(i => listing.Types.ContainsKey(StripGeneric(i))));
        for (ListedType? b = BaseOf(listing, t); b != null; b = BaseOf(listing, b))
        {
            foreach (string i in b.Interfaces.Where(i => listing.Types.ContainsKey(StripGeneric(i))))
            {
                seen.Add(i); // implemented by a base already
            }
        }

        var result = new List<string>();
        while (stack.Count > 0)
        {
            string i = stack.Pop();
            if (!seen.Add(i))
            {
                continue;
            }

            result.Add(i);
            foreach (string parent in listing.Types[StripGeneric(i)].Interfaces.Where(p => listing.Types.ContainsKey(StripGeneric(p))))
            {
                stack.Push(parent);
            }
        }

        return result;
    }

    private static bool NeedsBaseCall(ApiListing listing, ListedType t) => t.Base != null && t.Base != "System.Object" && listing.Types.ContainsKey(StripGeneric(t.Base));

    private static bool IsAccessor(ListedType t, ListedMember m)
    {
        foreach (string prefix in new[] { "get_", "set_", "add_", "remove_" })
        {
            if (m.Name.StartsWith(prefix, StringComparison.Ordinal))
            {
                string rest = m.Name[prefix.Length..];
                char kind = prefix is "add_" or "remove_" ? 'E' : 'P';
                if (t.Members.Any(x => x.Kind == kind && x.Name == rest) || (kind == 'P' && rest is "Item" or "Chars" && t.Members.Any(x => x.Kind == 'P' && x.Parameters.Count > 0)))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private static bool Resolvable(ApiListing listing, ListedMember m)
    {
        IEnumerable<string> types = m.Parameters.Append(m.ReturnType ?? "System.Void");
        if (m.ConversionTarget != null)
        {
            types = types.Append(m.ConversionTarget);
        }

        return types.All(p =>
        {
            string s = StripArray(p.TrimEnd('@'));
            return s.StartsWith('`') || listing.Types.ContainsKey(StripGeneric(s));
        });
    }

    private static string ParameterList(ListedMember m)
    {
        var parts = new List<string>();
        for (int i = 0; i < m.Parameters.Count; i++)
        {
            string p = m.Parameters[i];
            string? name = i < m.ParameterNames.Count ? m.ParameterNames[i] : null;
            string prefix = "";
            if (name != null && name.StartsWith("out:", StringComparison.Ordinal))
            {
                name = name[4..];
                prefix = "out ";
            }
            else if (p.EndsWith('@'))
            {
                prefix = "ref ";
            }
            else if (i == m.Parameters.Count - 1 && p.EndsWith("[]", StringComparison.Ordinal) && name is "args")
            {
                // The listings do not mark params arrays; nanoFramework's composite formatting takes them as "args".
                prefix = "params ";
            }

            parts.Add(prefix + TypeName(p.TrimEnd('@')) + " " + Identifier(name ?? "p" + i));
        }

        return string.Join(", ", parts);
    }

    private static string TypeName(string listingName)
    {
        string s = listingName.TrimEnd('@');
        string suffix = "";
        while (s.EndsWith(']'))
        {
            int open = s.LastIndexOf('[');
            suffix = "[" + new string(',', s[open..].Count(c => c == ',')) + "]" + suffix;
            s = s[..open];
        }

        if (s.StartsWith('`'))
        {
            return "T" + s[1..] + suffix;
        }

        if (s == "System.Void")
        {
            return "void";
        }

        int brace = s.IndexOf('{');
        if (brace >= 0)
        {
            string args = string.Join(", ", s[(brace + 1)..^1].Split(',').Select(TypeName));
            return "global::" + s[..brace] + "<" + args + ">" + suffix;
        }

        int tick = s.IndexOf('`');
        if (tick >= 0)
        {
            s = s[..tick];
        }

        return "global::" + s + suffix;
    }

    private static string TypeParameters(int arity) => arity == 0 ? "" : "<" + string.Join(", ", Enumerable.Range(0, arity).Select(i => "T" + i)) + ">";

    private static string StripArray(string s) => s.Contains('[') ? s[..s.IndexOf('[')] : s;

    private static string StripGeneric(string s)
    {
        int brace = s.IndexOf('{');
        if (brace < 0)
        {
            return s;
        }

        int arity = s[(brace + 1)..^1].Split(',').Length;
        return s[..brace] + "`" + arity.ToString(CultureInfo.InvariantCulture);
    }

    private static string Identifier(string name) =>
        SyntaxFacts.GetKeywordKind(name) != SyntaxKind.None ? "@" + name : name;

    private static string Keyword(string type) => type switch
    {
        "System.Byte" => "byte", "System.SByte" => "sbyte", "System.Int16" => "short", "System.UInt16" => "ushort",
        "System.Int32" => "int", "System.UInt32" => "uint", "System.Int64" => "long", "System.UInt64" => "ulong",
        _ => "int",
    };

    private static string ConstLiteral(string type, string value)
    {
        string cast = "(" + TypeName(type) + ")";
        switch (type)
        {
            case "System.String":
                return SymbolDisplay.FormatLiteral(value, quote: true);
            case "System.Char":
                return cast + (value.Length == 1 ? ((int)value[0]).ToString(CultureInfo.InvariantCulture) : "0");
            case "System.Boolean":
                return value.ToLowerInvariant();
            case "System.Double":
            case "System.Single":
                string suffix = type == "System.Single" ? "F" : "D";
                return value switch
                {
                    "NaN" => "0.0" + suffix + " / 0.0" + suffix,
                    "Infinity" => "1.0" + suffix + " / 0.0" + suffix,
                    "-Infinity" => "-1.0" + suffix + " / 0.0" + suffix,
                    _ => value + suffix,
                };
            default:
                return "unchecked(" + cast + "(" + value + "))";
        }
    }
}
