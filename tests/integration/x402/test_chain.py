"""The test chain itself: the compiled token does EIP-3009 and the oracle answers."""
import os

from eth_account import Account
from eth_account.messages import encode_typed_data

from tests.chain.rpc import CHAIN_ID


def _authorization(chain, payer, to, value, valid_before):
    message = {"from": payer.address, "to": to, "value": value, "validAfter": 0,
               "validBefore": valid_before, "nonce": os.urandom(32)}
    typed = {
        "types": {"TransferWithAuthorization": [
            {"name": "from", "type": "address"}, {"name": "to", "type": "address"},
            {"name": "value", "type": "uint256"}, {"name": "validAfter", "type": "uint256"},
            {"name": "validBefore", "type": "uint256"}, {"name": "nonce", "type": "bytes32"}]},
        "primaryType": "TransferWithAuthorization",
        "domain": {"name": "USD Coin", "version": "2", "chainId": CHAIN_ID,
                   "verifyingContract": chain.usdc.address},
        "message": message,
    }
    return message, payer.sign_message(encode_typed_data(full_message=typed)).signature


def test_token_is_usdc_like_and_does_eip3009(chain):
    assert chain.w3.eth.chain_id == CHAIN_ID
    assert chain.usdc.functions.decimals().call() == 6
    payer = chain.new_payer(5_000_000)
    latest = chain.w3.eth.get_block("latest").timestamp
    message, signature = _authorization(chain, payer, chain.pay_to, 1_500_000, latest + 600)
    args = [message[k] for k in ("from", "to", "value", "validAfter", "validBefore", "nonce")]
    chain.wait(chain.usdc.functions.transferWithAuthorization(*args, signature)
               .transact({"from": chain.owner}))
    assert chain.usdc.functions.balanceOf(chain.pay_to).call() == 1_500_000
    assert chain.usdc.functions.authorizationState(payer.address, message["nonce"]).call()


def test_oracle_answers_is_sanctioned(chain):
    bad, good = Account.create().address, Account.create().address
    chain.sanction(bad)
    assert chain.oracle.functions.isSanctioned(bad).call() is True
    assert chain.oracle.functions.isSanctioned(good).call() is False
