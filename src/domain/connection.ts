/**
 * The broker connection state machine (ARCHITECTURE.md section 3), adapter-independent. Pure:
 * the session that owns a connection feeds it inputs and acts on the state it returns.
 */
export const CONNECTION_STATES = [
  'Disconnected',
  'Initializing',
  'Authenticating',
  'BrokerConnected',
  'MarketConnecting',
  'FullyConnected',
  'SubscribingTickers',
  'Active',
  'InvalidCredentials',
  'MarketNotLogged',
  'Degraded',
] as const;
export type ConnectionState = (typeof CONNECTION_STATES)[number];

export type ConnectionInput =
  | { type: 'connect' }
  | { type: 'connecting' }
  | { type: 'login'; ok: boolean }
  | { type: 'market'; state: 'connecting' | 'connected' | 'not-logged' | 'disconnected' }
  | { type: 'subscribing' }
  | { type: 'subscribed' }
  | { type: 'stalled' }
  | { type: 'data' }
  | { type: 'gave-up' }
  | { type: 'disconnect' };

/** The next state; an input that means nothing in a state leaves it unchanged. */
export function nextState(state: ConnectionState, input: ConnectionInput): ConnectionState {
  switch (input.type) {
    case 'connect':
      return 'Initializing';
    case 'connecting':
      return state === 'Initializing' ? 'Authenticating' : state;
    case 'login':
      if (!input.ok) return 'InvalidCredentials';
      return state === 'Authenticating' || state === 'Initializing' ? 'BrokerConnected' : state;
    case 'market':
      switch (input.state) {
        case 'connecting':
          return state === 'InvalidCredentials' ? state : 'MarketConnecting';
        case 'connected':
          return state === 'InvalidCredentials' ? state : 'FullyConnected';
        case 'not-logged':
          return 'MarketNotLogged';
        case 'disconnected':
          return state === 'InvalidCredentials' ? state : 'Disconnected';
      }
      return state;
    case 'subscribing':
      return state === 'FullyConnected' || state === 'Active' || state === 'Degraded'
        ? 'SubscribingTickers'
        : state;
    case 'subscribed':
      return state === 'SubscribingTickers' ? 'Active' : state;
    case 'stalled':
      return state === 'Active' ? 'Degraded' : state;
    case 'data':
      return state === 'Degraded' ? 'Active' : state;
    case 'gave-up':
      return state === 'InvalidCredentials' ? state : 'Degraded';
    case 'disconnect':
      return 'Disconnected';
  }
}

/** The numeric value of a state for the connection-state metric (index in CONNECTION_STATES). */
export const stateCode = (s: ConnectionState): number => CONNECTION_STATES.indexOf(s);
