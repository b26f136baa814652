//! `calculator`: arithmetic and functions through `evalexpr`'s parser.
//! Numbers are floats (`7/2` is 3.5); `sqrt`, `sin`, `cos`, `tan`, `ln`,
//! `log10`, `log2`, `exp`, `abs`, `pow(x, y)`, `floor`, `round`, `min`,
//! `max`, and the constants `pi` and `e` are known. Division by zero and
//! results too large for a float are errors, never `inf` or `NaN`.

use evalexpr::{
    ContextWithMutableFunctions, ContextWithMutableVariables, DefaultNumericTypes, Function, HashMapContext, Node,
    Operator, Value as Ev,
};
use serde_json::{json, Value};

use super::{spec, Caller, Tool, ToolError, ToolSpec, ALL_ROLES};
use crate::Ctx;

pub struct Calculator(ToolSpec);

impl Calculator {
    pub fn new() -> Self {
        let parameters = json!({
            "type": "object",
            "properties": { "expression": { "type": "string", "minLength": 1, "maxLength": 1000,
                "description": "e.g. (2 + 3) * sqrt(16) / 4" } },
            "required": ["expression"],
            "additionalProperties": false
        });
        let description = "Evaluates an arithmetic expression: + - * / % ^, parentheses, sqrt, sin, cos, tan, \
            ln, log10, log2, exp, abs, pow, floor, round, min, max, pi, e.";
        Self(spec("calculator", description, parameters, Some(3600), ALL_ROLES))
    }
}

impl Default for Calculator {
    fn default() -> Self {
        Self::new()
    }
}

type Ctx64 = HashMapContext<DefaultNumericTypes>;
/// A function of one number, by the name expressions call it.
type Unary = (&'static str, fn(f64) -> f64);

fn unary(f: fn(f64) -> f64) -> Function<DefaultNumericTypes> {
    Function::new(move |v| Ok(Ev::Float(f(v.as_number()?))))
}

fn context() -> Ctx64 {
    let mut c = Ctx64::new();
    let unaries: &[Unary] = &[
        ("sqrt", f64::sqrt),
        ("sin", f64::sin),
        ("cos", f64::cos),
        ("tan", f64::tan),
        ("ln", f64::ln),
        ("log10", f64::log10),
        ("log2", f64::log2),
        ("exp", f64::exp),
        ("abs", f64::abs),
    ];
    for (name, f) in unaries {
        c.set_function(name.to_string(), unary(*f)).expect("a fresh context takes functions");
    }
    let pow = Function::new(|v: &Ev| {
        let args: Vec<Ev> = v.as_fixed_len_tuple(2)?;
        let (x, y): (f64, f64) = (args[0].as_number()?, args[1].as_number()?);
        Ok(Ev::Float(x.powf(y)))
    });
    c.set_function("pow".into(), pow).expect("a fresh context takes functions");
    c.set_value("pi".into(), Ev::Float(std::f64::consts::PI)).expect("a fresh context takes values");
    c.set_value("e".into(), Ev::Float(std::f64::consts::E)).expect("a fresh context takes values");
    c
}

/// Turns every integer literal into a float, so division is exact.
fn floats(node: &mut Node<DefaultNumericTypes>) {
    if let Operator::Const { value: Ev::Int(i) } = node.operator() {
        *node.operator_mut() = Operator::Const { value: Ev::Float(*i as f64) };
    }
    for child in node.children_mut() {
        floats(child);
    }
}

/// Whether some `/` or `%` in the tree divides by zero.
fn divides_by_zero(node: &Node<DefaultNumericTypes>, c: &Ctx64) -> bool {
    let by_zero = matches!(node.operator(), Operator::Div | Operator::Mod)
        && node.children().get(1).and_then(|d| d.eval_with_context(c).ok()).and_then(|v| v.as_number().ok())
            == Some(0.0);
    by_zero || node.children().iter().any(|ch| divides_by_zero(ch, c))
}

/// Evaluates `expression` to a number.
pub fn evaluate(expression: &str) -> Result<f64, ToolError> {
    let mut tree = evalexpr::build_operator_tree::<DefaultNumericTypes>(expression)
        .map_err(|e| ToolError::new("invalid_expression", format!("cannot parse the expression: {e}")))?;
    floats(&mut tree);
    let c = context();
    let value = tree
        .eval_with_context(&c)
        .map_err(|e| ToolError::new("invalid_expression", format!("cannot evaluate the expression: {e}")))?;
    let n = match value {
        Ev::Float(f) => f,
        Ev::Int(i) => i as f64,
        other => {
            return Err(ToolError::new("invalid_expression", format!("the expression gives {other}, not a number")))
        }
    };
    if n.is_finite() {
        Ok(n)
    } else if divides_by_zero(&tree, &c) {
        Err(ToolError::new("division_by_zero", "the expression divides by zero"))
    } else if n.is_nan() {
        Err(ToolError::new("undefined_result", "the result is undefined (e.g. the square root of a negative number)"))
    } else {
        Err(ToolError::new("overflow", "the result is too large to represent"))
    }
}

#[async_trait::async_trait]
impl Tool for Calculator {
    fn spec(&self) -> &ToolSpec {
        &self.0
    }

    async fn call(&self, _ctx: &Ctx, _caller: Caller, args: Value) -> Result<Value, ToolError> {
        let expression = args["expression"].as_str().unwrap_or_default();
        let result = evaluate(expression)?;
        Ok(json!({ "expression": expression, "result": result }))
    }
}

#[cfg(test)]
mod tests {
    use super::evaluate;

    #[test]
    fn evaluates_and_refuses_clearly() {
        assert_eq!(evaluate("(2 + 3) * sqrt(16) / 4").unwrap(), 5.0);
        assert_eq!(evaluate("7 / 2").unwrap(), 3.5);
        assert_eq!(evaluate("pow(2, 10) + abs(-1)").unwrap(), 1025.0);
        assert!((evaluate("sin(pi / 2)").unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(evaluate("1 / (3 - 3)").unwrap_err().code, "division_by_zero");
        assert_eq!(evaluate("5 % 0").unwrap_err().code, "division_by_zero");
        assert_eq!(evaluate("10 ^ 400").unwrap_err().code, "overflow");
        assert_eq!(evaluate("exp(1000)").unwrap_err().code, "overflow");
        assert_eq!(evaluate("2 +* 3").unwrap_err().code, "invalid_expression");
        assert_eq!(evaluate("\"text\"").unwrap_err().code, "invalid_expression");
        assert_eq!(evaluate("x = 3").unwrap_err().code, "invalid_expression");
    }
}
