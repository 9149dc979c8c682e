"""`noether-search enumerate` through click's runner."""

import json

from click.testing import CliRunner

from dslsearch.enumerate import MAX_DEPTH
from noether_search.cli import cli
from noether_search.cli.enumerate import MAX_DEPTH as CLI_MAX


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_help_explains_depth_counts_nodes():
    res = run("enumerate", "--help")
    assert res.exit_code == 0
    assert "NODES" in res.output and "p**2 - c*cos(q) has 7" in res.output


def test_json_output(tmp_path):
    res = run("enumerate", "--depth", "5", "--system", "pendulum", "--json", "--out", str(tmp_path / "s"))
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    assert obj["system"] == "pendulum" and obj["depth"] == 5
    assert obj["counts_by_size"] == {"1": 2, "2": 4, "3": 29, "4": 126, "5": 799}
    assert obj["count"] == 960 and obj["seconds"] >= 0
    assert (tmp_path / "s" / "candidates" / "d5.h5").is_file()


def test_list_output():
    res = run("enumerate", "--depth", "7", "--system", "spring", "--list", "--no-save")
    lines = res.stdout.splitlines()
    assert len(lines) == 13386 and "q**2 + c0*p**2" in lines


def test_table_output(tmp_path):
    res = run("enumerate", "--depth", "3", "--system", "spring", "--out", str(tmp_path / "s"))
    assert res.exit_code == 0 and "total" in res.output and "q [m]" in res.output


def test_errors_are_clear_and_without_traceback():
    res = run("enumerate", "--system", "nope")
    assert res.exit_code == 2 and "pendulum, spring, real-pendulum" in res.output
    res = run("enumerate", "--system", "spring", "--depth", "0")
    assert res.exit_code == 2 and "--depth" in res.output
    res = run("enumerate", "--system", "spring", "--depth", str(MAX_DEPTH + 1))
    assert res.exit_code == 2
    res = run("enumerate", "--system", "spring", "--data", "x.csv")
    assert res.exit_code == 2 and "mutually exclusive" in res.output
    res = run("enumerate")
    assert res.exit_code == 2 and "--system NAME" in res.output
    assert "Traceback" not in res.output


def test_cli_max_depth_in_sync():
    assert CLI_MAX == MAX_DEPTH


def test_data_file_units_come_from_header(tmp_path):
    csv = tmp_path / "my.csv"
    rows = ["trajectory,t [s],x [m],v [m/s]"]
    for k in range(2):
        for i in range(5):
            rows.append(f"{k},{i * 0.1},{1 + i * 0.01 + k},{0.1 * i - k}")
    csv.write_text("\n".join(rows) + "\n")
    res = run("enumerate", "--depth", "3", "--data", str(csv), "--json", "--no-save")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["system"].endswith("my.csv")
    res = run("enumerate", "--depth", "3", "--data", str(csv), "--list", "--no-save")
    assert "x + v" not in res.stdout.splitlines()  # unlike units never added


def test_store_of_other_variables_is_refused(tmp_path):
    out = str(tmp_path / "s")
    assert run("enumerate", "--depth", "3", "--system", "pendulum", "--out", out).exit_code == 0
    res = run("enumerate", "--depth", "3", "--system", "spring", "--out", out)
    assert res.exit_code == 1 and "use another --out folder" in res.output
    assert "Traceback" not in res.output
    res = CliRunner().invoke(cli, ["rank", "--depth", "3", "--system", "spring", "--out", out])
    assert res.exit_code == 1 and "use another --out folder" in res.output


def test_ops_option_widens_the_set_and_keeps_its_own_store_key(tmp_path):
    from dslsearch.enumerate import enumerate_formulas

    out = str(tmp_path / "s")
    res = run("enumerate", "--depth", "4", "--system", "pendulum", "--json", "--out", out,
              "--ops", "paper,sqrt,inv")
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    assert obj["ops"] == ["add", "sub", "mul", "div", "sin", "cos", "square", "sqrt", "inv"]
    want = enumerate_formulas([("q", "rad"), ("p", "kg*m**2/s")], 4, ops="paper,sqrt,inv")
    assert obj["count"] == want.n_candidates > 161  # 161: the paper's set at depth 4
    assert (tmp_path / "s" / "candidates" / "d4-paper_sqrt_inv.h5").is_file()
    assert not (tmp_path / "s" / "candidates" / "d4.h5").exists()


def test_default_ops_counts_are_the_papers():
    plain = json.loads(run("enumerate", "--depth", "5", "--system", "pendulum", "--json",
                           "--no-save").stdout)
    named = json.loads(run("enumerate", "--depth", "5", "--system", "pendulum", "--json",
                           "--no-save", "--ops", "add,sub,mul,div,sin,cos,square").stdout)
    assert plain["count"] == named["count"] == 960
    assert plain["ops"] == named["ops"] == ["add", "sub", "mul", "div", "sin", "cos", "square"]


def test_ops_all_lists_the_new_operations():
    res = run("enumerate", "--depth", "2", "--system", "pendulum", "--list", "--no-save",
              "--ops", "all")
    assert res.exit_code == 0, res.output
    assert set(res.stdout.splitlines()) == {"q", "p", "sin(q)", "cos(q)", "q**2", "sqrt(q)",
                                             "log(q)", "exp(q)", "1/q", "p**2", "sqrt(p)", "1/p"}


def test_unknown_op_is_a_usage_error_listing_the_known_ones():
    for command in ("enumerate", "fit", "rank"):
        res = CliRunner().invoke(cli, [command, "--system", "pendulum", "--ops", "add,pow"])
        assert res.exit_code == 2, (command, res.output)
        assert "unknown operation 'pow'" in res.output
        assert "add, sub, mul, div, sin, cos, square, sqrt, log, exp, inv" in res.output
    res = run("enumerate", "--help")
    assert "--ops" in res.output and "sqrt" in res.output
