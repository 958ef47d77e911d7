//! Routing: matchit path patterns (`/users/{user_id}`, `/files/{*path}`) to per-route method
//! tables. Decides 404, 405 with `Allow`, 501 for extension methods no route knows, automatic HEAD for
//! GET routes and automatic OPTIONS. Pure lookup: no I/O, no handler calls.

use std::ops::Range;

use http::{HeaderValue, Method};

/// The outcome of a lookup.
#[derive(Debug)]
pub enum Lookup<'r, T> {
    /// A handler for the method (or GET's for HEAD), with the path parameters as
    /// `(name, range in the path)`.
    Found(&'r T, Vec<(&'r str, Range<usize>)>),
    /// The path exists but not for this method; the `Allow` value.
    MethodNotAllowed(&'r HeaderValue),
    /// OPTIONS on a path without an OPTIONS handler: answer 204 with this `Allow`.
    Options(&'r HeaderValue),
    /// No route has this path.
    NotFound,
    /// No route anywhere knows this method.
    NotImplemented,
}

#[derive(Debug)]
struct Route<T> {
    pattern: String,
    methods: Vec<(Method, T)>,
    allow: HeaderValue,
}

/// Path patterns to method tables.
#[derive(Debug)]
pub struct Router<T> {
    matcher: matchit::Router<usize>,
    routes: Vec<Route<T>>,
    known_methods: Vec<Method>,
    all_allow: HeaderValue,
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Router {
            matcher: matchit::Router::new(),
            routes: Vec::new(),
            known_methods: Vec::new(),
            all_allow: HeaderValue::from_static("OPTIONS"),
        }
    }
}

impl<T> Router<T> {
    /// Registers `value` for `method` on `pattern` and returns it for further setup.
    ///
    /// # Panics
    /// If `pattern` is not a valid matchit pattern, conflicts with another pattern, or
    /// already has a handler for `method`: route tables are fixed at startup, so these are
    /// programming errors.
    pub fn insert(&mut self, method: Method, pattern: &str, value: T) -> &mut T {
        let index = match self.routes.iter().position(|r| r.pattern == pattern) {
            Some(index) => index,
            None => {
                let index = self.routes.len();
                if let Err(e) = self.matcher.insert(pattern, index) {
                    panic!("invalid route {pattern:?}: {e}");
                }
                self.routes.push(Route {
                    pattern: pattern.to_owned(),
                    methods: Vec::new(),
                    allow: HeaderValue::from_static(""),
                });
                index
            }
        };
        let route = &mut self.routes[index];
        assert!(
            !route.methods.iter().any(|(m, _)| *m == method),
            "route {method} {pattern:?} registered twice"
        );
        if !self.known_methods.contains(&method) {
            self.known_methods.push(method.clone());
            self.all_allow = allow_value(self.known_methods.iter());
        }
        route.methods.push((method, value));
        route.allow = allow_value(route.methods.iter().map(|(m, _)| m));
        let last = route.methods.len() - 1;
        &mut route.methods[last].1
    }

    /// Every registered value, for setup that needs all of them at once.
    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.routes
            .iter_mut()
            .flat_map(|r| r.methods.iter_mut().map(|(_, v)| v))
    }

    /// The `Allow` value listing every method any route knows (for `OPTIONS *`).
    pub fn allow_all(&self) -> &HeaderValue {
        &self.all_allow
    }

    /// Finds what handles `method` on `path` (the raw, still-encoded path).
    pub fn lookup(&self, method: &Method, path: &str) -> Lookup<'_, T> {
        let Ok(m) = self.matcher.at(path) else {
            if !self.knows(method) {
                return Lookup::NotImplemented;
            }
            return Lookup::NotFound;
        };
        let route = &self.routes[*m.value];
        let find = |want: &Method| {
            route
                .methods
                .iter()
                .find(|(m, _)| m == want)
                .map(|(_, v)| v)
        };
        let handler = find(method).or_else(|| {
            (*method == Method::HEAD)
                .then(|| find(&Method::GET))
                .flatten()
        });
        match handler {
            Some(h) => {
                let base = path.as_ptr() as usize;
                let params = m
                    .params
                    .iter()
                    .map(|(k, v)| {
                        let start = v.as_ptr() as usize - base;
                        (k, start..start + v.len())
                    })
                    .collect();
                Lookup::Found(h, params)
            }
            None if *method == Method::OPTIONS => Lookup::Options(&route.allow),
            None if !self.knows(method) => Lookup::NotImplemented,
            None => Lookup::MethodNotAllowed(&route.allow),
        }
    }

    fn knows(&self, method: &Method) -> bool {
        // The methods of RFC 9110 (and PATCH) are known to every server: a route without
        // them answers 405. Only extension methods no route registered get 501.
        matches!(
            *method,
            Method::GET
                | Method::HEAD
                | Method::POST
                | Method::PUT
                | Method::DELETE
                | Method::CONNECT
                | Method::OPTIONS
                | Method::TRACE
                | Method::PATCH
        ) || self.known_methods.contains(method)
    }
}

/// `GET, HEAD, POST, OPTIONS`: the registered methods, HEAD added after GET, OPTIONS last.
fn allow_value<'a>(methods: impl Iterator<Item = &'a Method>) -> HeaderValue {
    let mut list: Vec<&str> = Vec::new();
    for m in methods {
        if !list.contains(&m.as_str()) {
            list.push(m.as_str());
        }
        if *m == Method::GET && !list.contains(&"HEAD") {
            list.push("HEAD");
        }
    }
    if !list.contains(&"OPTIONS") {
        list.push("OPTIONS");
    }
    HeaderValue::from_str(&list.join(", ")).unwrap_or(HeaderValue::from_static("OPTIONS"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router<&'static str> {
        let mut r = Router::default();
        r.insert(Method::GET, "/users/{user_id}", "get_user");
        r.insert(Method::DELETE, "/users/{user_id}", "delete_user");
        r.insert(Method::POST, "/users", "create_user");
        r.insert(Method::GET, "/files/{*path}", "files");
        r
    }

    #[test]
    fn params_are_ranges_into_the_path() {
        let path = "/users/42";
        let r = router();
        let Lookup::Found(h, params) = r.lookup(&Method::GET, path) else {
            panic!()
        };
        assert_eq!(*h, "get_user");
        assert_eq!(params, vec![("user_id", 7..9)]);
    }

    #[test]
    fn catch_all_takes_the_rest() {
        let path = "/files/a/b.txt";
        let r = router();
        let Lookup::Found(_, params) = r.lookup(&Method::GET, path) else {
            panic!()
        };
        assert_eq!(&path[params[0].1.clone()], "a/b.txt");
    }

    #[test]
    fn head_falls_back_to_get() {
        assert!(matches!(
            router().lookup(&Method::HEAD, "/users/1"),
            Lookup::Found(&"get_user", _)
        ));
    }

    #[test]
    fn wrong_method_is_405_with_allow() {
        let r = router();
        let Lookup::MethodNotAllowed(allow) = r.lookup(&Method::POST, "/users/1") else {
            panic!()
        };
        assert_eq!(allow, "GET, HEAD, DELETE, OPTIONS");
    }

    #[test]
    fn options_without_handler_lists_methods() {
        let r = router();
        let Lookup::Options(allow) = r.lookup(&Method::OPTIONS, "/users") else {
            panic!()
        };
        assert_eq!(allow, "POST, OPTIONS");
    }

    #[test]
    fn unknown_method_is_501_only_if_no_route_knows_it() {
        let r = router();
        let purge = Method::from_bytes(b"PURGE").unwrap();
        assert!(matches!(
            r.lookup(&purge, "/users/1"),
            Lookup::NotImplemented
        ));
        assert!(matches!(
            r.lookup(&Method::PUT, "/users/1"),
            Lookup::MethodNotAllowed(_)
        ));
        assert!(matches!(r.lookup(&Method::PUT, "/nope"), Lookup::NotFound));
        assert!(matches!(
            r.lookup(&Method::DELETE, "/users"),
            Lookup::MethodNotAllowed(_)
        ));
    }

    #[test]
    fn missing_path_is_not_found() {
        assert!(matches!(
            router().lookup(&Method::GET, "/nope"),
            Lookup::NotFound
        ));
    }

    #[test]
    #[should_panic(expected = "registered twice")]
    fn duplicate_route_panics() {
        let mut r = router();
        r.insert(Method::GET, "/users/{user_id}", "again");
    }
}
