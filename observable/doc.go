// Package observable is sessionlog's reactive API: the session service as
// the Java ADK's BaseSessionService shapes it, on RxGo.
//
// Every BaseSessionService method has a counterpart here with the same name
// in Go case and the same result kind (CONTRACT X1):
//
//	createSession  -> CreateSession  Single[*Session]
//	getSession     -> GetSession     Maybe[*Session]
//	listSessions   -> ListSessions   Single[ListSessionsResponse]
//	deleteSession  -> DeleteSession  Completable
//	listEvents     -> ListEvents     Single[ListEventsResponse]
//	appendEvent    -> AppendEvent    Single[*Event]
//	closeSession   -> CloseSession   Completable
//
// Java's overloads become one Go method taking a [SessionKey] (an empty
// SessionID asks for a new one) and, where Java has optional arguments, an
// options struct.
//
// The work of a call runs once, when the method is called, and its outcome
// is kept: every subscriber sees the same result, and no subscription runs
// the work again (CONTRACT X2). A call's own ctx is what bounds its work.
// (Unlike RxJava, a Single is not a recipe to run later: a port of retry()
// re-calls the method.) Results are typed; errors travel as the result's
// error, never as a panic. BlockingGet and BlockingAwait mirror RxJava's
// blockingGet and blockingAwait; Subscribe mirrors subscribe with
// callbacks; Rx hands out the plain rxgo value for pipelines.
//
// The outcome of a SessionService method is there when the method
// returns, so its blocking helpers return it at once, whatever their ctx
// says: a write that succeeded is never reported as cancelled. Work a
// caller wants to run beside its own goes through [StartSingle],
// [StartMaybe] or [StartCompletable], whose outcome is pending until the
// work returns; their blocking helpers wait for it, and give ctx's error
// when ctx is done first.
//
// Streams ([Stream]) follow a session, a user or an app: each observation
// replays the log from a position with its own cursor and then follows it
// live, so two observers never take items from each other, and a slow one
// holds up nobody.
//
// A note on rxgo: an rxgo observation runs goroutines that stop only when
// their items are consumed or their context is cancelled. When you take a
// value from Rx and may stop reading early, observe it with
// rxgo.WithContext and cancel that context when you are done. rxgo does
// not hand a source's context on to the operators after it: a pipeline
// whose consumer may stop reading passes the context to the final Observe
// too, while one whose consumer reads every item to the end (as
// examples/pipeline does) needs it only at the source. The typed API
// (BlockingGet, Subscribe, Stream.Subscribe) needs no such care.
package observable
